//! The terminal frontend: a conversation on stdin/stdout through the session, on the embedded
//! store. Needs no token and no network. `/quit` or end of input ends it.

use std::io::{BufRead, Write};

use crate::session::{Session, SessionError};

/// Runs the conversation until end of input. Invalid UTF-8 is replaced, not fatal.
pub fn run(
    session: &Session,
    user: &str,
    input: impl BufRead,
    mut out: impl Write,
) -> std::io::Result<()> {
    let banner = session
        .turn("terminal", user, "0", false)
        .map(|r| r.to_plain())
        .unwrap_or_default();
    writeln!(out, "{banner}")?;
    write!(out, "> ")?;
    out.flush()?;
    for line in input.split(b'\n') {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\r');
        if matches!(text.trim(), "/quit" | "/exit") {
            break;
        }
        match session.turn("terminal", user, text, false) {
            Ok(reply) => writeln!(out, "\n{}", reply.to_plain())?,
            Err(SessionError::Empty) => {}
            Err(e) => writeln!(out, "\n[safepath] {e}")?,
        }
        write!(out, "> ")?;
        out.flush()?;
    }
    writeln!(out)?;
    Ok(())
}
