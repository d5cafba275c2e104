//! Putting things to the user through the client: a question with buttons, a page to open.

use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::lsp_types::{
    MessageActionItem, MessageType, ShowDocumentParams, ShowMessageRequestParams, Uri, request,
};

/// Asks the user with `window/showMessageRequest`; the chosen action's title, `None` when dismissed.
pub async fn ask(client: &Client, typ: MessageType, message: String, actions: &[&str]) -> Result<Option<String>> {
    let params = ShowMessageRequestParams {
        typ,
        message,
        actions: Some(
            actions.iter().map(|t| MessageActionItem { title: (*t).into(), properties: Default::default() }).collect(),
        ),
    };
    let answer = client.send_request::<request::ShowMessageRequest>(params).await?;
    Ok(answer.map(|item| item.title))
}

/// Opens a URL in the user's browser when the client can (`show_document`), else says where it is.
pub async fn show_url(client: &Client, show_document: bool, url: &str, what: &str) {
    let uri = url.parse::<Uri>().ok();
    if let (true, Some(uri)) = (show_document, uri) {
        let params = ShowDocumentParams { uri, external: Some(true), take_focus: Some(true), selection: None };
        if let Ok(result) = client.show_document(params).await
            && result
        {
            return;
        }
    }
    client.show_message(MessageType::INFO, format!("OpenHands: {what}: {url}")).await;
}
