//! Phase: classify the invocation: cacheable, or passed through with a reason.

use ccd_cc::{Invocation, NonCacheable, Parsed};

use super::request::Req;

pub fn classify(req: &Req) -> Result<Invocation, NonCacheable> {
    // These make the preprocessor write a dependency file ccd knows nothing of.
    for var in ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"] {
        if req.env(var).is_some() {
            return Err(NonCacheable::UnsupportedOption(var.into()));
        }
    }
    match ccd_cc::parse(&req.args) {
        Parsed::Cacheable(inv) => Ok(*inv),
        Parsed::NonCacheable(reason) => Err(reason),
    }
}
