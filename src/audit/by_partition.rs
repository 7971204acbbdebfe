//! A map from partition to state, as a vector indexed by partition: partition numbers come
//! from the brokers and run from 0 to the topic's partition count, so the vector is as long as
//! the topic is wide, and a lookup is an index rather than a hash (the audit does two or three
//! per record).

#[derive(Debug)]
pub(crate) struct ByPartition<T>(Vec<Option<T>>);

impl<T> Default for ByPartition<T> {
    fn default() -> Self {
        ByPartition(Vec::new())
    }
}

impl<T> ByPartition<T> {
    pub(crate) fn get_mut(&mut self, partition: i32) -> Option<&mut T> {
        let index = usize::try_from(partition).ok()?;
        self.0.get_mut(index)?.as_mut()
    }

    /// The state of `partition`, made by `make` if there is none; `None` for a negative
    /// partition (never one of a consumed message).
    pub(crate) fn get_or_insert_with(
        &mut self,
        partition: i32,
        make: impl FnOnce() -> T,
    ) -> Option<&mut T> {
        let index = usize::try_from(partition).ok()?;
        if index >= self.0.len() {
            self.0.resize_with(index + 1, || None);
        }
        Some(self.0[index].get_or_insert_with(make))
    }

    /// Each partition that has a state, with it.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (i32, &mut T)> {
        self.0
            .iter_mut()
            .enumerate()
            .filter_map(|(i, slot)| Some((i32::try_from(i).ok()?, slot.as_mut()?)))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter().flatten()
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.0.iter_mut().flatten()
    }
}
