//! Declared actions: calls to the team's own systems (look an order up, cancel it, refund it)
//! that the bot can make for a customer. The actions file declares them (`spec.rs`): what
//! each calls, its inputs and where their values come from (the customer's message, or bound
//! to the Intercom contact and conversation: never from text or a model), what each input
//! must be (`schema.rs`), its limits, and what the customer is told. `call.rs` makes one call
//! safely, through the [`ActionApi`] seam: over HTTP, or from recorded fixtures in a replay.
//! `plan.rs` decides what a customer message means for them (the action triggered by a
//! phrase, an intent or a model's tool call; its inputs found, bound or asked for; limits;
//! the read a write requires; the explicit yes awaited), `words.rs` reads the customer's
//! answer and says what they are told in seven languages, and `after.rs` decides what
//! follows a call, for the outbox and the replay alike.
//!
//! What this module must not know: the pipeline, the policy, the store, Intercom.

pub mod after;
pub mod call;
pub mod plan;
pub mod schema;
pub mod spec;
pub mod words;

pub use after::After;
pub use call::{
    ActionApi, CallError, Fixtures, HttpApi, Request, Response, Values, checked_values, idempotency_key,
    output, render, request,
};
pub use plan::{CallOrder, Chosen, Plan, Planned, Situation, Step, Then};
pub use spec::{ActionSpec, Actions, Risk};
