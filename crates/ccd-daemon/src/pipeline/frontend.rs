//! A compiler family as the pipeline sees it. The orchestrator
//! (`pipeline::compile`) runs every family through the same phases and
//! calls its frontend where families differ: how the compiler is
//! identified, how its command line reads, what its key holds, how a miss
//! is run and what it read. Output claims, the wait for a pending store of
//! the same context, the fast paths, the store and session logging come
//! with the orchestrator, for every family alike.
//!
//! A new family is one module implementing this trait, an arm in
//! `ccd_protocol::Driver` (its name), one in [`crate::compiler::CompilerKind`]
//! and one in `pipeline::handle_compile`.

use std::sync::Arc;

use ccd_filestate::Digest;

use super::ask::IdentifyError;
use super::classify::Classified;
use super::context::Context;
use super::expand_args::Syntax;
use super::miss::Plan;
use super::request::Req;
use super::store::Learned;
use super::worktree::{Dialect, Remap};
use crate::compiler::{Compiler, Stamps};
use crate::daemon::Daemon;
use crate::outcome::{NotStored, PassReason};

pub trait Frontend {
    /// An invocation as this family reads it.
    type Invocation;
    /// What is taken from a finished compile before its client is
    /// answered: the build may move or rewrite files the moment the
    /// compiler returns.
    type Captured;

    /// How a checkout's root is mapped away in this family's arguments.
    const DIALECT: Dialect;

    /// Who the compiler at `req.compiler` is, by content, and the files
    /// that tell when that may have changed.
    fn probe(&self, req: &Req) -> Result<(Stamps, Compiler), IdentifyError>;

    /// How this compiler reads `@file` arguments.
    fn argument_files(&self, compiler: &Compiler) -> Syntax;

    fn classify(&self, req: &Req, compiler: &Compiler) -> Classified<Self::Invocation>;

    /// The compile context: its key (everything known before looking at
    /// what the source includes) and where its files are.
    fn context(
        &self,
        d: &Daemon,
        compiler: Arc<Compiler>,
        inv: &Self::Invocation,
        req: &Req,
        remap: &Remap,
    ) -> Result<Context, PassReason>;

    /// How the compile will tell what it read, and what to watch meanwhile.
    fn plan(
        &self,
        d: &Daemon,
        ctx: &Context,
        inv: &Self::Invocation,
        req: &Req,
        source: Digest,
    ) -> Plan;

    fn capture(
        &self,
        d: &Daemon,
        ctx: &Context,
        inv: &Self::Invocation,
        req: &Req,
        plan: &Plan,
    ) -> Result<Self::Captured, NotStored>;

    /// After the client has its answer: every input with its digest, the
    /// lookups that must keep failing, and the conditions of the result.
    fn learn(
        &self,
        d: &Daemon,
        ctx: &Context,
        inv: &Self::Invocation,
        req: &Req,
        plan: &Plan,
        captured: Self::Captured,
    ) -> Result<Learned, NotStored>;
}
