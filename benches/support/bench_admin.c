/*
 * bench_admin: the few Kafka admin operations scripts/bench needs, with librdkafka's Admin API
 * (the local Kafka install has no kafka-topics.sh). Built by scripts/bench against the
 * librdkafka that rdkafka-sys vendors, like rdkafka_performance.
 *
 *   bench_admin BROKERS create TOPIC PARTITIONS REPLICATION
 *   bench_admin BROKERS delete-topics TOPIC...
 *   bench_admin BROKERS delete-groups GROUP...
 *
 * Exit 0 when every operation succeeded (a topic or group that does not exist counts as
 * deleted), 1 otherwise, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdkafka.h"

#define TIMEOUT_MS 30000

static int report(const char *what, const char *name, rd_kafka_resp_err_t err,
                  const char *errstr) {
        if (!err || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            err == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
                return 0;
        fprintf(stderr, "bench_admin: %s %s: %s\n", what, name,
                errstr ? errstr : rd_kafka_err2str(err));
        return 1;
}

/* Waits for the result of the admin request just sent. On a request-level failure (or a
 * time-out) reports it under `what`/`name`, sets *failed and returns NULL. */
static rd_kafka_event_t *await_result(rd_kafka_queue_t *queue, const char *what,
                                      const char *name, int *failed) {
        rd_kafka_event_t *event = rd_kafka_queue_poll(queue, TIMEOUT_MS + 5000);
        if (event && !rd_kafka_event_error(event))
                return event;
        *failed = report(what, name,
                         event ? rd_kafka_event_error(event) : RD_KAFKA_RESP_ERR__TIMED_OUT,
                         event ? rd_kafka_event_error_string(event) : NULL);
        if (event)
                rd_kafka_event_destroy(event);
        return NULL;
}

/* Reports every failed topic of a CreateTopics or DeleteTopics result; 1 if any failed. */
static int report_topics(const char *what, const rd_kafka_topic_result_t **results,
                         size_t n) {
        size_t j;
        int failed = 0;
        for (j = 0; j < n; j++)
                failed |= report(what, rd_kafka_topic_result_name(results[j]),
                                 rd_kafka_topic_result_error(results[j]),
                                 rd_kafka_topic_result_error_string(results[j]));
        return failed;
}

int main(int argc, char **argv) {
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_queue_t *queue;
        rd_kafka_AdminOptions_t *options;
        rd_kafka_event_t *event;
        const char *op;
        int failed = 0, i, count;

        if (argc < 4) {
                fprintf(stderr,
                        "usage: %s BROKERS create TOPIC PARTITIONS REPLICATION\n"
                        "       %s BROKERS delete-topics TOPIC...\n"
                        "       %s BROKERS delete-groups GROUP...\n",
                        argv[0], argv[0], argv[0]);
                return 2;
        }
        op    = argv[2];
        count = argc - 3;

        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "bench_admin: %s\n", errstr);
                return 2;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "bench_admin: %s\n", errstr);
                return 1;
        }
        queue   = rd_kafka_queue_new(rk);
        options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
        rd_kafka_AdminOptions_set_request_timeout(options, TIMEOUT_MS, errstr,
                                                  sizeof(errstr));

        if (!strcmp(op, "create") && argc == 6) {
                rd_kafka_NewTopic_t *topic = rd_kafka_NewTopic_new(
                    argv[3], atoi(argv[4]), atoi(argv[5]), errstr,
                    sizeof(errstr));
                if (!topic) {
                        fprintf(stderr, "bench_admin: %s\n", errstr);
                        return 2;
                }
                rd_kafka_AdminOptions_set_operation_timeout(
                    options, TIMEOUT_MS, errstr, sizeof(errstr));
                rd_kafka_CreateTopics(rk, &topic, 1, options, queue);
                event = await_result(queue, "create", argv[3], &failed);
                if (event) {
                        size_t n;
                        const rd_kafka_topic_result_t **results =
                            rd_kafka_CreateTopics_result_topics(
                                rd_kafka_event_CreateTopics_result(event), &n);
                        failed |= report_topics("create", results, n);
                        rd_kafka_event_destroy(event);
                }
                rd_kafka_NewTopic_destroy(topic);
        } else if (!strcmp(op, "delete-topics")) {
                rd_kafka_DeleteTopic_t **topics =
                    calloc((size_t)count, sizeof(*topics));
                for (i = 0; i < count; i++)
                        topics[i] = rd_kafka_DeleteTopic_new(argv[3 + i]);
                rd_kafka_AdminOptions_set_operation_timeout(
                    options, TIMEOUT_MS, errstr, sizeof(errstr));
                rd_kafka_DeleteTopics(rk, topics, (size_t)count, options,
                                      queue);
                event = await_result(queue, "delete-topics", argv[3], &failed);
                if (event) {
                        size_t n;
                        const rd_kafka_topic_result_t **results =
                            rd_kafka_DeleteTopics_result_topics(
                                rd_kafka_event_DeleteTopics_result(event), &n);
                        failed |= report_topics("delete topic", results, n);
                        rd_kafka_event_destroy(event);
                }
                rd_kafka_DeleteTopic_destroy_array(topics, (size_t)count);
                free(topics);
        } else if (!strcmp(op, "delete-groups")) {
                rd_kafka_DeleteGroup_t **groups =
                    calloc((size_t)count, sizeof(*groups));
                for (i = 0; i < count; i++)
                        groups[i] = rd_kafka_DeleteGroup_new(argv[3 + i]);
                rd_kafka_DeleteGroups(rk, groups, (size_t)count, options,
                                      queue);
                event = await_result(queue, "delete-groups", argv[3], &failed);
                if (event) {
                        size_t n, j;
                        const rd_kafka_group_result_t **results =
                            rd_kafka_DeleteGroups_result_groups(
                                rd_kafka_event_DeleteGroups_result(event), &n);
                        for (j = 0; j < n; j++) {
                                const rd_kafka_error_t *error =
                                    rd_kafka_group_result_error(results[j]);
                                failed |= report(
                                    "delete group",
                                    rd_kafka_group_result_name(results[j]),
                                    error ? rd_kafka_error_code(error)
                                          : RD_KAFKA_RESP_ERR_NO_ERROR,
                                    error ? rd_kafka_error_string(error)
                                          : NULL);
                        }
                        rd_kafka_event_destroy(event);
                }
                rd_kafka_DeleteGroup_destroy_array(groups, (size_t)count);
                free(groups);
        } else {
                fprintf(stderr, "bench_admin: unknown operation %s\n", op);
                return 2;
        }
        rd_kafka_AdminOptions_destroy(options);
        rd_kafka_queue_destroy(queue);
        rd_kafka_destroy(rk);
        return failed ? 1 : 0;
}
