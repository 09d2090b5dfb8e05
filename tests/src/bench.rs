//! What the benches share: medians of samples, figure rows aligned in two columns, and tracing
//! at the production log level, so a timing measures the connector and not a log capture.

use std::fmt::Display;

use tracing_subscriber::fmt::MakeWriter;

/// The median of `samples`: the middle one once sorted, the upper middle of an even count.
pub fn median<T: Ord + Copy>(mut samples: Vec<T>) -> T {
    samples.sort();
    samples[samples.len() / 2]
}

/// A table of figures: a name left-aligned, then its value right-aligned, each in its width.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    pub name_width: usize,
    pub value_width: usize,
}

impl Figures {
    /// Prints one row (a header row too: its titles in place of the name and the value).
    pub fn row(&self, name: &str, value: impl Display) {
        println!(
            "{name:<name_width$} {value:>value_width$}",
            name_width = self.name_width,
            value_width = self.value_width
        );
    }
}

/// The benches' usual table: names of up to 60 characters, values of up to 14.
pub const FIGURES: Figures = Figures {
    name_width: 60,
    value_width: 14,
};

/// Prints one row of [`FIGURES`].
pub fn row(name: &str, value: impl Display) {
    FIGURES.row(name, value);
}

/// Logs warnings and errors only, as the functions do in production, to `writer`: the test
/// harness's debug-level capture would be measured too.
pub fn production_tracing<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(writer)
        .init();
}

/// [`production_tracing`] with the lines thrown away, for a process that only measures.
pub fn quiet_tracing() {
    production_tracing(std::io::sink);
}

/// A multi-threaded Tokio runtime with its I/O and time drivers on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}
