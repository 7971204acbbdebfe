// Readiness probe of scripts/stack for the SASL_SSL listeners (compiled once into .cache/).
//
//   java -cp "<kafka libs>/*:<classes>" SaslProbe USER PASSWORD_FILE CA_PEM HOST:PORT...
//
// For each HOST:PORT, alone as the bootstrap server: TLS (verified against CA_PEM, host name
// included), SCRAM-SHA-512 login, then the broker ids of the cluster. Prints one line per
// address, `HOST:PORT ok 1,2,3` or `HOST:PORT failed <reason>`; exits 0 only if all are ok.
// Why not kcat: Debian 12's kcat links librdkafka 2.0.2, whose SCRAM client-final-message
// Kafka 4.x rejects (fixed in librdkafka 2.6.1).

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.common.Node;

public final class SaslProbe {
  public static void main(String[] args) throws Exception {
    if (args.length < 4) {
      System.err.println("usage: SaslProbe USER PASSWORD_FILE CA_PEM HOST:PORT...");
      System.exit(2);
    }
    String user = args[0];
    String password = Files.readString(Path.of(args[1])).trim();
    String jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
        + quote(user) + "\" password=\"" + quote(password) + "\";";
    int failed = 0;
    for (int i = 3; i < args.length; i++) {
      Properties p = new Properties();
      p.put("bootstrap.servers", args[i]);
      p.put("security.protocol", "SASL_SSL");
      p.put("sasl.mechanism", "SCRAM-SHA-512");
      p.put("sasl.jaas.config", jaas);
      p.put("ssl.truststore.type", "PEM");
      p.put("ssl.truststore.location", args[2]);
      p.put("request.timeout.ms", "3000");
      p.put("default.api.timeout.ms", "4000");
      p.put("socket.connection.setup.timeout.ms", "2000");
      p.put("socket.connection.setup.timeout.max.ms", "2000");
      p.put("reconnect.backoff.max.ms", "500");
      p.put("retry.backoff.max.ms", "500");
      Admin admin = Admin.create(p);
      try {
        String ids = admin.describeCluster(new DescribeClusterOptions().timeoutMs(4000)).nodes()
            .get(5, TimeUnit.SECONDS).stream().map(Node::id).sorted().map(String::valueOf)
            .collect(Collectors.joining(","));
        System.out.println(args[i] + " ok " + ids);
      } catch (Exception e) {
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        System.out.println(args[i] + " failed " + cause.getClass().getSimpleName() + ": "
            + String.valueOf(cause.getMessage()).replace('\n', ' '));
        failed++;
      } finally {
        admin.close(Duration.ofSeconds(1));
      }
    }
    System.exit(failed == 0 ? 0 : 1);
  }

  private static String quote(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"");
  }
}
