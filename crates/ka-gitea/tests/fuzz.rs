//! Property tests of reading Gitea's answers: a local HTTP server on
//! loopback answers each call with a generated status and body (arbitrary
//! bytes, JSON shaped like Gitea's, or not HTTP at all); every client call
//! returns a value or an error that names the call — never a panic. No
//! network beyond 127.0.0.1. `make fuzz` runs many more cases.

use ka_gitea::client::{CreateIssue, EditIssue, Gitea};
use ka_schema::{GiteaConfig, parse_yaml};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

/// One answer: an HTTP status and body, or raw bytes instead of HTTP.
#[derive(Debug, Clone)]
enum Answer {
    Http(u16, Vec<u8>),
    Raw(Vec<u8>),
}

/// The loopback server: answers calls from the queue, `200 []` once empty.
struct Server {
    port: u16,
    queue: Arc<Mutex<VecDeque<Answer>>>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let queue: Arc<Mutex<VecDeque<Answer>>> = Arc::default();
        let answers = Arc::clone(&queue);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let _ = reader.take(length).read_to_end(&mut Vec::new());
                let answer = answers.lock().unwrap().pop_front();
                let bytes = match answer.unwrap_or(Answer::Http(200, b"[]".to_vec())) {
                    Answer::Raw(raw) => raw,
                    Answer::Http(status, body) => {
                        let mut r = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend(body);
                        r
                    }
                };
                let _ = stream.write_all(&bytes);
            }
        });
        Server { port, queue }
    })
}

fn client(dir: &std::path::Path) -> Gitea {
    let token = dir.join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let yaml = format!(
        "url: http://127.0.0.1:{}\nowner: o\nrepo: r\ntoken_file: {}\ntimeout: 5s\nattempts: 2\nbackoff: 1s\n",
        server().port,
        token.display()
    );
    let cfg: GiteaConfig = parse_yaml(&yaml, "config.yaml").unwrap();
    Gitea::new(&cfg, "config.yaml").unwrap().with_sleep(|_| {})
}

/// JSON shaped like Gitea's answers (issues, labels, comments, errors).
fn json_answer() -> impl Strategy<Value = Vec<u8>> {
    let number = prop_oneof![
        Just("1".to_string()),
        Just("-1".into()),
        Just("1.5".into()),
        Just("18446744073709551616".into()),
        Just("null".into())
    ];
    let text = prop_oneof![
        Just("\"x\"".to_string()),
        Just("\"ka-id: block-1\\nmore\"".into()),
        Just("null".into()),
        Just("1".into()),
        Just("\"\\ud800\"".into())
    ];
    let field = (
        prop::sample::select(&["number", "id", "title", "body", "state", "name", "message"][..]),
        prop_oneof![number, text],
    )
        .prop_map(|(k, v)| format!("\"{k}\":{v}"));
    let object = prop::collection::vec(field, 0..5).prop_map(|f| format!("{{{}}}", f.join(",")));
    prop_oneof![
        object.clone(),
        prop::collection::vec(object, 0..4).prop_map(|o| format!("[{}]", o.join(","))),
    ]
    .prop_map(String::into_bytes)
}

fn answer() -> impl Strategy<Value = Answer> {
    let status = prop_oneof![
        Just(200u16),
        Just(201),
        Just(204),
        Just(401),
        Just(404),
        Just(422),
        Just(429),
        Just(500),
        Just(503),
        100u16..600
    ];
    let body = prop_oneof![json_answer(), prop::collection::vec(any::<u8>(), 0..256)];
    prop_oneof![
        6 => (status, body).prop_map(|(s, b)| Answer::Http(s, b)),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Answer::Raw),
    ]
}

/// An error names the call it was about.
fn names_the_call<T>(result: ka_core::Result<T>, call: &str) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert!(e.to_string().contains(call), "{call}: {e}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_gitea_answers_are_read_or_refused(answers in prop::collection::vec(answer(), 0..8)) {
        let dir = tempfile::tempdir().unwrap();
        let gitea = client(dir.path());
        *server().queue.lock().unwrap() = answers.into();
        names_the_call(gitea.labels(), "/labels")?;
        names_the_call(gitea.issues_labelled("ka"), "/issues")?;
        names_the_call(gitea.comments(1), "/issues/1/comments")?;
        names_the_call(gitea.create_issue(&CreateIssue { title: "t", body: "b", labels: &[1] }), "/issues")?;
        names_the_call(gitea.edit_issue(1, &EditIssue { state: Some("closed"), ..EditIssue::default() }), "/issues/1")?;
    }
}
