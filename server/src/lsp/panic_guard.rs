//! A tower layer that turns a panicking handler into an InternalError response, so one bug in one request does not
//! take the editor's session down with it.

use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tower::Service;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Id, Request, Response};

use crate::logging::panic_message;

pub struct CatchPanic<S>(pub S);

impl<S> Service<Request> for CatchPanic<S>
where
    S: Service<Request, Response = Option<Response>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Option<Response>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Option<Response>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let id = req.id().cloned();
        let method = req.method().to_owned();
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(req))) {
            Ok(fut) => AssertUnwindSafe(fut)
                .catch_unwind()
                .map(move |outcome| outcome.unwrap_or_else(|payload| Ok(panic_response(id, &method, payload))))
                .boxed(),
            Err(payload) => futures::future::ready(Ok(panic_response(id, &method, payload))).boxed(),
        }
    }
}

fn panic_response(id: Option<Id>, method: &str, payload: Box<dyn std::any::Any + Send>) -> Option<Response> {
    let message = panic_message(payload.as_ref());
    tracing::error!("handler for {method} panicked: {message}");
    let error = Error {
        code: ErrorCode::InternalError,
        message: format!("internal error while handling {method}: {message} (this is a bug in openhands-lsp; the server keeps running)").into(),
        data: None,
    };
    id.map(|id| Response::from_error(id, error))
}
