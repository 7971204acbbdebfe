//! Command-line arguments as `--name value` pairs and flags, taken by name.

pub(crate) struct Args(Vec<String>);

impl Args {
    pub(crate) fn new(args: Vec<String>) -> Args {
        Args(args)
    }

    /// Removes `--name value` and returns the value.
    pub(crate) fn value(&mut self, name: &str) -> Result<String, String> {
        let at = self
            .0
            .iter()
            .position(|a| a == name)
            .ok_or_else(|| format!("missing {name}"))?;
        if at + 1 >= self.0.len() {
            return Err(format!("{name} needs a value"));
        }
        let value = self.0.remove(at + 1);
        self.0.remove(at);
        Ok(value)
    }

    pub(crate) fn number<T: std::str::FromStr>(&mut self, name: &str) -> Result<T, String> {
        let value = self.value(name)?;
        value
            .parse()
            .map_err(|_| format!("{name} needs a number, not {value:?}"))
    }

    /// Removes the flag `name`; whether it was there.
    pub(crate) fn flag(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|a| a != name);
        self.0.len() != before
    }

    /// What is left (positional arguments), once every named one was taken.
    pub(crate) fn rest(self) -> Vec<String> {
        self.0
    }
}
