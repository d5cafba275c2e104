//! A failing model, said in plain words: what happened (refused, unreachable, silent, rejected the key), where
//! (the URL or the model), and which setting to check. The agent-server reports LiteLLM's exception text
//! (`litellm.InternalServerError: InternalServerError: OpenAIException - …`), which names the library, not the fix.

/// The user-facing message for an agent error, when it is a model failure; `None` leaves the error as it is.
pub fn explain(raw: &str, model: &str, base_url: Option<&str>, editor: crate::editor::Editor) -> Option<String> {
    explain_at(raw, Some((model, base_url)), editor)
}

/// An error event's text in plain words when it is the model's, in place (its `raw` stays as the agent-server
/// sent it). `place`: the model and its URL, when known (not for a conversation's history read back).
pub fn explain_event(
    event: &mut crate::agent_server::events::NormalizedEvent,
    place: Option<(&str, Option<&str>)>,
    editor: crate::editor::Editor,
) {
    if !event.kind.contains("Error") {
        return;
    }
    if let Some(text) = explain_at(&event.detail, place, editor) {
        let what = text.split(". ").next().unwrap_or(&text);
        event.summary = format!("error: {what}");
        event.detail = text;
    }
}

fn explain_at(raw: &str, place: Option<(&str, Option<&str>)>, editor: crate::editor::Editor) -> Option<String> {
    // LiteLLM's exceptions, and the SDK's own word for an answer without choices.
    if !raw.contains("litellm.") && !raw.contains(EMPTY_ANSWER) {
        return None;
    }
    let (what, hint) = KINDS.iter().find(|(kind, ..)| raw.contains(kind)).map(|(_, what, hint)| (*what, *hint))?;
    let hint = if hint == KEY {
        format!("Check the LLM key: {}.", editor.how_to_set(crate::secrets::SecretName::LlmApiKey))
    } else {
        hint.to_owned()
    };
    let place = match place {
        Some((model, Some(url))) => format!(": {model} at {url}"),
        Some((model, None)) => format!(": {model} (its provider's own endpoint)"),
        None => String::new(),
    };
    let detail = raw.rsplit(" - ").next().unwrap_or(raw).trim();
    let detail: String = detail.chars().take(200).collect();
    Some(format!("The model {what}{place}. {hint} (The model's service said: {detail})"))
}

const EMPTY_ANSWER: &str = "Response choices is less than 1";

const CHECK: &str = "Check openhands.llm.baseUrl and openhands.llm.model.";
/// Stands for "check the key", said in the words of the user's editor.
const KEY: &str = "KEY";

/// LiteLLM's exception names, the most specific first.
const KINDS: &[(&str, &str, &str)] = &[
    // LiteLLM reports a refused or dropped connection as a server error: the detail tells.
    ("Connection error", "could not be reached", CHECK),
    // The OpenAI client, before any request, when no key is given (also as a server error).
    ("Missing credentials", "was not called: it needs an API key", KEY),
    (EMPTY_ANSWER, "gave an empty answer (no choices)", CHECK),
    ("AuthenticationError", "rejected the key (401)", KEY),
    ("PermissionDeniedError", "refused access (403)", KEY),
    ("RateLimitError", "refused: too many requests or no quota left (429)", "Wait, or check the account's limits."),
    ("NotFoundError", "was not found (404)", CHECK),
    ("ContextWindowExceededError", "could not take the conversation: it is longer than its context window", CHECK),
    ("BadRequestError", "rejected the request (400)", CHECK),
    ("Timeout", "did not answer in time (openhands.llm.timeoutSeconds)", CHECK),
    ("APIConnectionError", "could not be reached", CHECK),
    ("ServiceUnavailableError", "is unavailable (503)", "Try again later, or check openhands.llm.baseUrl."),
    ("InternalServerError", "failed on its side (500)", "Try again later, or check openhands.llm.baseUrl."),
    ("APIError", "answered with an error", CHECK),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::editor::Editor;

    #[test]
    fn litellm_errors_become_plain_words_with_the_place_and_the_setting() {
        let raw = "litellm.InternalServerError: InternalServerError: OpenAIException - upstream exploded";
        let text = explain(raw, "openai/stub", Some("http://127.0.0.1:9/v1"), Editor::Other).unwrap();
        assert_eq!(
            text,
            "The model failed on its side (500): openai/stub at http://127.0.0.1:9/v1. Try again later, or check \
             openhands.llm.baseUrl. (The model's service said: upstream exploded)"
        );
        let auth = explain("litellm.AuthenticationError: bad key", "m", None, Editor::Neovim).unwrap();
        assert!(auth.contains("rejected the key") && auth.contains("run :OpenHands secret llm_api_key"), "{auth}");
        let auth = explain("litellm.AuthenticationError: bad key", "m", None, Editor::VsCode).unwrap();
        assert!(auth.contains("\"OpenHands: Set LLM API Key\" from the Command Palette"), "{auth}");
        assert_eq!(explain("the sandbox died", "m", None, Editor::Other), None);
    }

    #[test]
    fn an_error_event_reads_in_plain_words_and_keeps_its_raw_text() {
        let raw = "litellm.InternalServerError: InternalServerError: OpenAIException - Connection error.";
        let json = serde_json::json!({"id": "e", "kind": "ConversationErrorEvent", "source": "environment",
            "code": "x", "detail": raw});
        let event = crate::agent_server::events::AgentEvent::from_json(json).unwrap();
        let mut normalized = crate::agent_server::events::NormalizedEvent::new("c", 0, event, &[]);
        assert!(normalized.detail.contains("litellm."), "{}", normalized.detail);
        explain_event(&mut normalized, None, Editor::Other);
        assert_eq!(
            normalized.detail,
            "The model could not be reached. Check openhands.llm.baseUrl and openhands.llm.model. (The model's \
             service said: Connection error.)"
        );
        assert_eq!(normalized.summary, "error: The model could not be reached");
        assert!(normalized.raw.to_string().contains("litellm."), "the raw event is as it was");
    }
}
