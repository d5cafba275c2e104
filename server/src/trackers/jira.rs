//! Jira: Cloud's REST v3 (Basic with the account's email and an API token; descriptions and comments in ADF) when
//! `openhands.jira.email` is set, else Data Center's REST v2 (Bearer with a personal access token; wiki text).

use base64::Engine as _;
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use super::http::Http;
use super::{Assigned, MAX_COMMENTS, TrackerComment, TrackerError, TrackerIssue, TrackerKind, Trackers, adf};
use crate::providers::http::encode;

const PAGE: u32 = 100;

pub(super) struct Jira {
    http: Http,
    site: String,
    /// `/rest/api/3` (Cloud) or `/rest/api/2` (Data Center).
    api: String,
    cloud: bool,
}

impl Jira {
    pub fn new(trackers: &Trackers) -> Result<Jira, TrackerError> {
        let site = trackers.jira_site().ok_or_else(|| {
            TrackerError::NotConfigured(
                "Jira is not set up: set openhands.jira.url to your site (e.g. https://acme.atlassian.net)".into(),
            )
        })?;
        let email = trackers.jira.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
        let token = trackers.secrets.get(TrackerKind::Jira.secret()).ok_or(TrackerError::NoToken {
            tracker: "Jira",
            secret: "jira_token",
            env: "JIRA_API_TOKEN",
            extra: " (Jira Cloud: an API token, with openhands.jira.email; Data Center: a personal access token)",
        })?;
        let cloud = email.is_some();
        let authorization = match email {
            Some(email) => {
                let pair = base64::engine::general_purpose::STANDARD.encode(format!("{email}:{}", token.expose()));
                format!("Basic {pair}")
            }
            None => format!("Bearer {}", token.expose()),
        };
        let mut authorization = HeaderValue::from_str(&authorization)
            .map_err(|_| TrackerError::NotConfigured("jira_token has characters a header cannot carry".into()))?;
        authorization.set_sensitive(true);
        let hint = if cloud {
            "set a valid jira_token (an API token from id.atlassian.com/manage-profile/security/api-tokens) with \
             openhands.setSecret or JIRA_API_TOKEN, and check that openhands.jira.email is that account's email"
        } else {
            "set a valid jira_token (a personal access token from your Jira profile) with openhands.setSecret or \
             JIRA_API_TOKEN; for Jira Cloud, also set openhands.jira.email"
        };
        let http = Http {
            kind: TrackerKind::Jira,
            setting: "jira.url",
            client: trackers.client.clone(),
            authorization,
            unauthorized_hint: hint.into(),
        };
        let api = if cloud { "/rest/api/3" } else { "/rest/api/2" };
        Ok(Jira { http, api: format!("{site}{api}"), site, cloud })
    }

    async fn get(&self, path: &str, what: &str, not_found: &str) -> Result<Value, TrackerError> {
        let url = format!("{}{path}", self.api);
        Ok(self.http.json(Method::GET, &url, None, what, not_found).await?.0)
    }

    /// Every project key the token can see.
    pub async fn project_keys(&self) -> Result<Vec<String>, TrackerError> {
        let keys_of = |items: &Value| -> Vec<String> {
            items.as_array().into_iter().flatten().filter_map(|p| p["key"].as_str().map(str::to_owned)).collect()
        };
        if !self.cloud {
            return Ok(keys_of(&self.get("/project", "the project list", "").await?));
        }
        let mut keys = Vec::new();
        let mut start = 0;
        // Bounded: a site with thousands of projects is read up to 2,000 keys.
        for _ in 0..20 {
            let page =
                self.get(&format!("/project/search?startAt={start}&maxResults={PAGE}"), "the project list", "").await?;
            let found = keys_of(&page["values"]);
            let n = found.len() as u32;
            keys.extend(found);
            if page["isLast"].as_bool().unwrap_or(true) || n == 0 {
                break;
            }
            start += n;
        }
        Ok(keys)
    }

    pub async fn issue(&self, key: &str) -> Result<TrackerIssue, TrackerError> {
        let what = format!("issue {key}");
        let project = key.rsplit_once('-').map_or(key, |(p, _)| p);
        let not_found = format!(" (is project {project} one the token's account may browse?)");
        let comments_of = format!("the comments of {key}");
        let issue_path = format!("/issue/{}?fields=*all&expand=names", encode(key));
        let comments_path = format!("/issue/{}/comment?orderBy=-created&maxResults={MAX_COMMENTS}", encode(key));
        // One after the other: an issue the token cannot see is one refused request, not two.
        let issue = self.get(&issue_path, &what, &not_found).await?;
        let comments = self.get(&comments_path, &comments_of, &not_found).await?;
        let fields = &issue["fields"];
        let title = fields["summary"].as_str().ok_or_else(|| self.http.invalid(&what, "it has no summary"))?;
        let names = issue["names"].as_object();
        // "Acceptance criteria" is a custom field whose id differs per site: found by its name.
        let criteria = names
            .into_iter()
            .flatten()
            .find(|(_, name)| name.as_str().is_some_and(|n| n.to_ascii_lowercase().contains("acceptance criteria")))
            .map(|(id, _)| self.text(&fields[id.as_str()]))
            .filter(|t| !t.trim().is_empty());
        let comments = comments["comments"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MAX_COMMENTS)
            .map(|c| TrackerComment {
                author: c["author"]["displayName"].as_str().unwrap_or("someone").to_owned(),
                body: self.text(&c["body"]),
            })
            .collect();
        let names_of = |v: &Value, field: &str| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|x| x[field].as_str().map(str::to_owned)).collect()
        };
        Ok(TrackerIssue {
            tracker: TrackerKind::Jira,
            key: issue["key"].as_str().unwrap_or(key).to_owned(),
            title: title.to_owned(),
            url: format!("{}/browse/{}", self.site, issue["key"].as_str().unwrap_or(key)),
            description: self.text(&fields["description"]),
            status: fields["status"]["name"].as_str().map(str::to_owned),
            kind: fields["issuetype"]["name"].as_str().map(str::to_owned),
            labels: fields["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str())
                .map(str::to_owned)
                .collect(),
            criteria,
            comments,
            attachments: names_of(&fields["attachment"], "filename"),
            internal_id: None,
        })
    }

    /// A field's text: ADF on Cloud, a string on Data Center.
    fn text(&self, value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            Value::Object(_) => adf::to_markdown(value),
            _ => String::new(),
        }
    }

    pub async fn comment(&self, key: &str, text: &str, link: &str) -> Result<(), TrackerError> {
        let body = if self.cloud {
            json!({"body": adf::paragraph_with_link(text, link)})
        } else {
            json!({"body": format!("{text} [{link}|{link}]")})
        };
        let url = format!("{}/issue/{}/comment", self.api, encode(key));
        self.http.json(Method::POST, &url, Some(&body), &format!("a comment on {key}"), "").await?;
        Ok(())
    }

    /// The open issues assigned to the user (in `projects`, when named), the latest updated first.
    pub async fn assigned(&self, projects: &[String]) -> Result<Vec<Assigned>, TrackerError> {
        let mut jql = String::from("assignee = currentUser() AND statusCategory != Done");
        if !projects.is_empty() {
            jql.push_str(&format!(" AND project in ({})", projects.join(", ")));
        }
        jql.push_str(" ORDER BY updated DESC");
        let what = "the issues assigned to you";
        let found = if self.cloud {
            let body = json!({"jql": jql, "fields": ["summary"], "maxResults": 30});
            let url = format!("{}/search/jql", self.api);
            self.http.json(Method::POST, &url, Some(&body), what, "").await?.0
        } else {
            self.get(&format!("/search?jql={}&fields=summary&maxResults=30", encode(&jql)), what, "").await?
        };
        Ok(found["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| {
                let key = i["key"].as_str()?;
                Some(Assigned {
                    tracker: TrackerKind::Jira,
                    key: key.to_owned(),
                    title: i["fields"]["summary"].as_str().unwrap_or_default().to_owned(),
                    url: format!("{}/browse/{key}", self.site),
                })
            })
            .collect())
    }
}
