//! Where results go: stdout, or a file that appears under its name only when
//! complete (written as `<name>.partial`, renamed at the end, removed when the
//! run fails), so a half-written export is never mistaken for a whole one.

use crate::ReplayError;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct Output {
    sink: Sink,
    label: String,
}

enum Sink {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File {
        writer: BufWriter<File>,
        partial: PathBuf,
        target: PathBuf,
        finished: bool,
    },
}

impl Output {
    pub fn stdout() -> Output {
        Output {
            sink: Sink::Stdout(BufWriter::new(io::stdout().lock())),
            label: "stdout".into(),
        }
    }

    /// `None` = stdout.
    pub fn create(path: Option<&Path>) -> Result<Output, ReplayError> {
        let Some(target) = path else {
            return Ok(Output::stdout());
        };
        let mut partial = target.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let label = target.display().to_string();
        let file = File::create(&partial).map_err(|source| ReplayError::Output {
            target: partial.display().to_string(),
            source,
        })?;
        Ok(Output {
            sink: Sink::File {
                writer: BufWriter::new(file),
                partial,
                target: target.to_path_buf(),
                finished: false,
            },
            label,
        })
    }

    /// What to call this output in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The error for a failed write.
    pub fn error(&self, source: io::Error) -> ReplayError {
        ReplayError::Output {
            target: self.label.clone(),
            source,
        }
    }

    /// Flushes; a file is synced and renamed to its final name.
    pub fn finish(mut self) -> Result<(), ReplayError> {
        let label = self.label.clone();
        let fail = |source| ReplayError::Output {
            target: label.clone(),
            source,
        };
        match &mut self.sink {
            Sink::Stdout(writer) => writer.flush().map_err(fail),
            Sink::File {
                writer,
                partial,
                target,
                finished,
            } => {
                writer.flush().map_err(fail)?;
                writer.get_ref().sync_all().map_err(fail)?;
                std::fs::rename(&*partial, &*target).map_err(fail)?;
                *finished = true;
                Ok(())
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::Stdout(w) => w.write(buf),
            Sink::File { writer, .. } => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(w) => w.flush(),
            Sink::File { writer, .. } => writer.flush(),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Sink::File {
            partial, finished, ..
        } = &self.sink
        {
            if !*finished {
                let _ = std::fs::remove_file(partial);
            }
        }
    }
}
