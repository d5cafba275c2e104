//! Linear: its GraphQL API with a personal API key (sent as it is, without `Bearer`). Descriptions and comments are
//! Markdown already.

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use super::http::Http;
use super::{Assigned, MAX_COMMENTS, TrackerComment, TrackerError, TrackerIssue, TrackerKind, Trackers};

const TEAMS: &str = "query Teams { teams(first: 250) { nodes { key } } }";

const ISSUE: &str = "query Issue($id: String!) {
  issue(id: $id) {
    id identifier title description url
    state { name }
    labels { nodes { name } }
    comments(first: 50) { nodes { body createdAt user { name } } }
    attachments { nodes { title url } }
  }
}";

const COMMENT: &str = "mutation Comment($input: CommentCreateInput!) {
  commentCreate(input: $input) { success }
}";

const ASSIGNED: &str = "query Assigned($filter: IssueFilter) {
  viewer {
    assignedIssues(first: 50, filter: $filter, orderBy: updatedAt) { nodes { identifier title url } }
  }
}";

pub(super) struct Linear {
    http: Http,
    url: String,
}

impl Linear {
    pub fn new(trackers: &Trackers) -> Result<Linear, TrackerError> {
        let key = trackers.secrets.get(TrackerKind::Linear.secret()).ok_or(TrackerError::NoToken {
            tracker: "Linear",
            secret: "linear_api_key",
            env: "LINEAR_API_KEY",
            extra: " (a personal API key from Linear's Settings → Security & access)",
        })?;
        let mut authorization = HeaderValue::from_str(key.expose())
            .map_err(|_| TrackerError::NotConfigured("linear_api_key has characters a header cannot carry".into()))?;
        authorization.set_sensitive(true);
        let http = Http {
            kind: TrackerKind::Linear,
            setting: "linear.apiUrl",
            client: trackers.client.clone(),
            authorization,
            unauthorized_hint: "set a valid linear_api_key (Linear: Settings → Security & access → Personal API keys) \
                                with openhands.setSecret or LINEAR_API_KEY"
                .into(),
        };
        Ok(Linear { http, url: trackers.linear.api_url.trim().to_owned() })
    }

    /// Runs one GraphQL operation; GraphQL's own errors (sent with 200 or 400) become words.
    async fn query(&self, query: &str, variables: Value, what: &str) -> Result<Value, TrackerError> {
        let body = json!({"query": query, "variables": variables});
        let answer = self.http.json(Method::POST, &self.url, Some(&body), what, "").await;
        let (value, headers) = match answer {
            Ok(ok) => ok,
            // Linear answers a bad key or a rate limit with 400 and a GraphQL error, which `Http` reads as HTTP.
            Err(TrackerError::Http { status: 400, message, .. }) => {
                return Err(self.graphql_error(&message, what, None));
            }
            Err(e) => return Err(e),
        };
        if let Some(first) = value["errors"].as_array().and_then(|e| e.first()) {
            let code = first["extensions"]["code"].as_str().unwrap_or_default();
            let message = first["message"].as_str().unwrap_or_default();
            return Err(self.graphql_error(&format!("{code} {message}"), what, Some(&headers)));
        }
        Ok(value["data"].clone())
    }

    fn graphql_error(&self, text: &str, what: &str, headers: Option<&reqwest::header::HeaderMap>) -> TrackerError {
        let lower = text.to_ascii_lowercase();
        if lower.contains("authentication") || lower.contains("not authenticated") {
            TrackerError::Unauthorized { tracker: "Linear", hint: self.http.unauthorized_hint.clone() }
        } else if lower.contains("ratelimited") || lower.contains("rate limit") {
            TrackerError::RateLimited { tracker: "Linear", wait: headers.and_then(super::http::wait_of) }
        } else if lower.contains("not found") {
            TrackerError::NotFound {
                tracker: "Linear",
                what: what.to_owned(),
                hint: " (is its team one the key's account is in?)".into(),
            }
        } else {
            TrackerError::Http {
                tracker: "Linear",
                what: what.to_owned(),
                status: 400,
                message: text.trim().to_owned(),
            }
        }
    }

    pub async fn team_keys(&self) -> Result<Vec<String>, TrackerError> {
        let data = self.query(TEAMS, json!({}), "the team list").await?;
        Ok(data["teams"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["key"].as_str().map(str::to_owned))
            .collect())
    }

    pub async fn issue(&self, key: &str) -> Result<TrackerIssue, TrackerError> {
        let what = format!("issue {key}");
        let data = self.query(ISSUE, json!({"id": key}), &what).await?;
        let issue = &data["issue"];
        let title = issue["title"].as_str().ok_or_else(|| self.http.invalid(&what, "it has no title"))?;
        let mut comments: Vec<(String, TrackerComment)> = issue["comments"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let comment = TrackerComment {
                    author: c["user"]["name"].as_str().unwrap_or("someone").to_owned(),
                    body: c["body"].as_str().unwrap_or_default().to_owned(),
                };
                (c["createdAt"].as_str().unwrap_or_default().to_owned(), comment)
            })
            .collect();
        // The newest first (ISO 8601 times sort as text).
        comments.sort_by(|a, b| b.0.cmp(&a.0));
        let strings = |v: &Value, field: &str| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|x| x[field].as_str().map(str::to_owned)).collect()
        };
        Ok(TrackerIssue {
            tracker: TrackerKind::Linear,
            key: issue["identifier"].as_str().unwrap_or(key).to_owned(),
            title: title.to_owned(),
            url: issue["url"].as_str().unwrap_or_default().to_owned(),
            description: issue["description"].as_str().unwrap_or_default().to_owned(),
            status: issue["state"]["name"].as_str().map(str::to_owned),
            kind: None,
            labels: strings(&issue["labels"]["nodes"], "name"),
            criteria: None,
            comments: comments.into_iter().take(MAX_COMMENTS).map(|(_, c)| c).collect(),
            attachments: strings(&issue["attachments"]["nodes"], "title"),
            internal_id: issue["id"].as_str().map(str::to_owned),
        })
    }

    /// Comments on issue `key`, named by its id (read first, as the mutation wants it).
    pub async fn comment(&self, key: &str, text: &str, link: &str) -> Result<(), TrackerError> {
        let issue = self.issue(key).await?;
        let id = issue.internal_id.clone().unwrap_or_else(|| issue.key.clone());
        let input = json!({"input": {"issueId": id, "body": format!("{text} [{link}]({link})")}});
        let data = self.query(COMMENT, input, &format!("a comment on {}", issue.key)).await?;
        match data["commentCreate"]["success"].as_bool() {
            Some(true) => Ok(()),
            _ => Err(self.http.invalid(&format!("a comment on {}", issue.key), "it was not created")),
        }
    }

    /// The open issues assigned to the user (in `teams`, when named).
    pub async fn assigned(&self, teams: &[String]) -> Result<Vec<Assigned>, TrackerError> {
        let mut filter = json!({"state": {"type": {"nin": ["completed", "canceled"]}}});
        if !teams.is_empty() {
            filter["team"] = json!({"key": {"in": teams}});
        }
        let data = self.query(ASSIGNED, json!({"filter": filter}), "the issues assigned to you").await?;
        Ok(data["viewer"]["assignedIssues"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| {
                Some(Assigned {
                    tracker: TrackerKind::Linear,
                    key: i["identifier"].as_str()?.to_owned(),
                    title: i["title"].as_str().unwrap_or_default().to_owned(),
                    url: i["url"].as_str().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }
}
