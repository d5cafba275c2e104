//! The store's own tests: times, ids, the event log, salvaging a damaged `meta.json`.

#[test]
fn times_are_rfc3339() {
    assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(super::rfc3339(1_796_083_200_123), "2026-12-01T00:00:00.123Z");
    assert_eq!(super::rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
}

use super::*;

fn meta(id: &str, created_at: u64) -> Meta {
    Meta {
        id: id.into(),
        title: "t".into(),
        instruction: "i".into(),
        workspace: "/w".into(),
        backend: "process".into(),
        state: State::Starting,
        created_at,
        updated_at: created_at,
        final_message: None,
        error: None,
        sandbox_url: None,
        image: None,
        event_count: 0,
        isolation: None,
        issue: None,
        cloud: None,
        owner: None,
        checkpoint: None,
        restores: 0,
        agent_conversation: None,
        branch_of: None,
        usage: None,
        budget_reached: None,
        discarded: false,
        queued: Vec::new(),
        folders: Vec::new(),
    }
}

#[test]
fn round_trip_and_paging() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let (a, b) = ("a".repeat(32), "b".repeat(32));
    let mut log = store.create(&meta(&a, 1)).unwrap();
    store.create(&meta(&b, 2)).unwrap();
    for i in 0..5 {
        log.append(&format!("{{\"n\":{i}}}")).unwrap();
    }
    let page = store.read_events(&a, 3, 10).unwrap();
    assert_eq!((page.total, page.next), (5, 5));
    assert_eq!(page.events, vec![(3, serde_json::json!({"n": 3})), (4, serde_json::json!({"n": 4}))]);
    let ids: Vec<String> = store.list().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![b, a], "newest first");
    assert!(matches!(store.load(&"c".repeat(32)), Err(StoreError::Unknown(_))));
}

#[test]
fn a_torn_tail_is_cut_before_the_next_append_and_a_failed_append_leaves_no_half_line() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let id = "f".repeat(32);
    let dir = tmp.path().join("conversations").join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("events.jsonl"), "{\"n\":0}\n{\"n\":1}\n{\"n\":2,\"cut").unwrap();
    let page = store.read_events(&id, 0, 10).unwrap();
    assert_eq!((page.total, page.next), (2, 2), "the torn tail is not an event");
    let mut log = store.create(&meta(&id, 1)).unwrap();
    log.append("{\"n\":3}").unwrap();
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert_eq!(text, "{\"n\":0}\n{\"n\":1}\n{\"n\":3}\n");
    assert_eq!(count_events(&dir.join("events.jsonl")), 3);
}

#[test]
fn ids_of_another_form_never_become_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let store = Store::new(&state);
    // A meta.json outside the state directory, where a traversal would find it.
    let outside = tmp.path().join("ws/.hidden/evil");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("meta.json"), serde_json::to_vec(&meta("../../ws/.hidden/evil", 1)).unwrap()).unwrap();
    std::fs::write(outside.join("events.jsonl"), "{}\n").unwrap();
    for id in ["../../ws/.hidden/evil", "/etc", outside.to_str().unwrap(), "", "A".repeat(32).as_str()] {
        assert!(matches!(store.load(id), Err(StoreError::BadId(_))), "{id}");
        assert!(matches!(store.read_events(id, 0, 10), Err(StoreError::BadId(_))), "{id}");
        assert!(matches!(store.save(&meta(id, 1)), Err(StoreError::BadId(_))), "{id}");
    }
    assert!(serde_json::from_value::<ConversationId>(serde_json::json!("../x")).is_err());
    // A folder of the right name whose meta.json names another conversation is not that conversation.
    let (real, other) = ("d".repeat(32), "e".repeat(32));
    std::fs::create_dir_all(state.join("conversations").join(&real)).unwrap();
    std::fs::write(
        state.join("conversations").join(&real).join("meta.json"),
        serde_json::to_vec(&meta(&other, 1)).unwrap(),
    )
    .unwrap();
    assert!(matches!(store.load(&real), Err(StoreError::Unknown(_))));
}
