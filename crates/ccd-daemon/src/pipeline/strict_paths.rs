//! Phase: strict path validation (`--strict-paths=MODE` on the wrapper's
//! command line, or `CCD_STRICT_PATHS=MODE`), after response files are
//! expanded. A violation fails the compile with a compiler-style error.

use ccd_cc::strict_paths::{Mode, validate};

use super::request::Req;

/// The error message for the build, if the request breaks its rule.
pub fn check(req: &Req) -> Result<(), String> {
    let Some(v) = req.env("CCD_STRICT_PATHS") else {
        return Ok(());
    };
    let mode = Mode::parse(&String::from_utf8_lossy(v)).map_err(|e| format!("ccd: error: {e}"))?;
    validate(mode, &req.args).map_err(|v| v.to_string())
}
