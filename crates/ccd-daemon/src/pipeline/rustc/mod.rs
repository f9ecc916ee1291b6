//! The frontend of rustc under cargo (`RUSTC_WRAPPER=ccd cargo build`).
//! What differs from C/C++ is how the invocation is read ([`ccd_rustc`]),
//! what the key holds ([`context`]: the cargo variables that reach the
//! crate, the linker of a linked crate) and how a miss learns its inputs
//! ([`learn`]: rustc's dep-info, with its sources and the `env!`
//! variables it read, the `--extern` crates, native libraries).

mod context;
mod learn;
mod probe;

use std::sync::Arc;

use ccd_filestate::Digest;
use ccd_rustc::{RustInvocation, RustParsed};

use super::classify::Classified;
use super::compiler_identity::IdentifyError;
use super::context::Context;
use super::frontend::Frontend;
use super::miss::Plan;
use super::request::Req;
use super::store::Learned;
use super::worktree::{Dialect, Remap};
use crate::compiler::{Compiler, Stamps};
use crate::daemon::Daemon;
use crate::outcome::{NotStored, PassReason};

pub struct Rustc;

impl Frontend for Rustc {
    type Invocation = RustInvocation;
    type Captured = learn::Captured;

    const DIALECT: Dialect = Dialect::Rustc;

    fn probe(&self, req: &Req) -> Result<(Stamps, Compiler), IdentifyError> {
        probe::probe(req)
    }

    fn classify(&self, req: &Req, _compiler: &Compiler) -> Classified<RustInvocation> {
        match ccd_rustc::parse(&req.args) {
            RustParsed::Cacheable(inv) => Classified::Compile(*inv),
            RustParsed::NonCacheable(reason) => Classified::Pass(PassReason::Rustc(reason)),
        }
    }

    fn context(
        &self,
        d: &Daemon,
        compiler: Arc<Compiler>,
        inv: &RustInvocation,
        req: &Req,
        remap: &Remap,
    ) -> Result<Context, PassReason> {
        context::build(d, compiler, inv, req, remap)
    }

    fn plan(
        &self,
        d: &Daemon,
        ctx: &Context,
        inv: &RustInvocation,
        req: &Req,
        source: Digest,
    ) -> Plan {
        learn::plan(d, ctx, inv, req, source)
    }

    fn capture(
        &self,
        _d: &Daemon,
        ctx: &Context,
        _inv: &RustInvocation,
        _req: &Req,
        plan: &Plan,
    ) -> Result<learn::Captured, NotStored> {
        learn::capture(ctx, plan)
    }

    fn learn(
        &self,
        d: &Daemon,
        ctx: &Context,
        inv: &RustInvocation,
        req: &Req,
        plan: &Plan,
        captured: learn::Captured,
    ) -> Result<Learned, NotStored> {
        learn::learn(d, ctx, inv, req, plan, captured)
    }
}
