//! The API description (swagger 2.0, [`crate::API_DESCRIPTION`]): which
//! operation a request addresses, and every way a request — or the fake's own
//! answer — breaks what the description says.

use crate::http::Request;
use serde_json::Value;

/// Path parameters by name, e.g. `("index", "3")`.
pub(crate) type PathParams = Vec<(String, String)>;

/// The operation a request addresses, with its path parameters; or why none.
pub(crate) fn route<'a>(api: &'a Value, req: &Request) -> Result<(&'a Value, PathParams), String> {
    let base = api["basePath"].as_str().unwrap_or("");
    let Some(rest) = req.path.strip_prefix(base) else {
        return Err(format!("{} is outside the API's basePath {base}", req.path));
    };
    let segs: Vec<&str> = rest.split('/').collect();
    for (template, item) in api["paths"].as_object().expect("paths") {
        let tsegs: Vec<&str> = template.split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                params.push((t[1..t.len() - 1].to_string(), s.to_string()));
                !s.is_empty()
            } else {
                t == s
            }
        });
        if !matched {
            continue;
        }
        return match item.get(req.method.to_ascii_lowercase()) {
            Some(op) => Ok((op, params)),
            None => Err(format!("{} is not a method of {template}", req.method)),
        };
    }
    Err(format!("no path of the API matches {}", req.path))
}

/// Follow `$ref`s (`#/definitions/...`, `#/responses/...`) to what they name.
pub(crate) fn resolve<'a>(api: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut cur = api;
            for part in r.trim_start_matches("#/").split('/') {
                cur = &cur[part];
            }
            resolve(api, cur)
        }
        None => v,
    }
}

/// Check a parameter value given as text (path or query).
fn check_text_param(p: &Value, value: &str) -> Result<(), String> {
    let name = p["name"].as_str().unwrap_or("?");
    match p["type"].as_str() {
        Some("integer") => {
            value
                .parse::<i64>()
                .map_err(|_| format!("parameter {name}={value:?} is not an integer"))?;
        }
        Some("boolean") if value != "true" && value != "false" => {
            return Err(format!("parameter {name}={value:?} is not a boolean"));
        }
        _ => {}
    }
    if let Some(e) = p["enum"].as_array()
        && !e.iter().any(|x| x.as_str() == Some(value))
    {
        return Err(format!("parameter {name}={value:?} is not one of {e:?}"));
    }
    if p["format"].as_str() == Some("date-time") && !looks_like_date_time(value) {
        return Err(format!(
            "parameter {name}={value:?} is not an RFC 3339 date-time"
        ));
    }
    Ok(())
}

fn looks_like_date_time(v: &str) -> bool {
    v.len() >= 20 && v.as_bytes()[4] == b'-' && v.as_bytes()[10] == b'T'
}

/// Check a JSON value against a schema: types, required fields, and no
/// fields the schema does not name.
pub(crate) fn check_schema(
    api: &Value,
    schema: &Value,
    v: &Value,
    at: &str,
    out: &mut Vec<String>,
) {
    let schema = resolve(api, schema);
    match schema["type"].as_str() {
        Some("object") | None if schema.get("properties").is_some() => {
            let Some(obj) = v.as_object() else {
                out.push(format!("{at}: expected an object, got {v}"));
                return;
            };
            let props = schema["properties"].as_object().expect("properties");
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or("");
                if !obj.contains_key(r) {
                    out.push(format!("{at}: required field {r:?} is missing"));
                }
            }
            for (k, fv) in obj {
                match props.get(k) {
                    Some(ps) => check_schema(api, ps, fv, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}: field {k:?} is not in the API description")),
                }
            }
        }
        Some("object") if !v.is_object() => {
            out.push(format!("{at}: expected an object, got {v}"));
        }
        Some("array") => match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_schema(api, &schema["items"], item, &format!("{at}[{i}]"), out);
                }
            }
            None => out.push(format!("{at}: expected an array, got {v}")),
        },
        Some("string") => match v.as_str() {
            Some(s)
                if schema["format"].as_str() == Some("date-time") && !looks_like_date_time(s) =>
            {
                out.push(format!("{at}: {s:?} is not an RFC 3339 date-time"))
            }
            Some(_) => {}
            None => out.push(format!("{at}: expected a string, got {v}")),
        },
        Some("integer") if !(v.is_i64() || v.is_u64()) => {
            out.push(format!("{at}: expected an integer, got {v}"));
        }
        Some("boolean") if !v.is_boolean() => {
            out.push(format!("{at}: expected a boolean, got {v}"));
        }
        Some("object" | "integer" | "boolean") => {}
        Some(other) => out.push(format!(
            "{at}: schema type {other} is not handled by the fake"
        )),
        None => {}
    }
}

/// Every way the request breaks the description: its path parameters, its
/// query parameters, then its body.
pub(crate) fn check_request(
    api: &Value,
    op: &Value,
    path_params: &[(String, String)],
    req: &Request,
) -> Vec<String> {
    let mut out = Vec::new();
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    for (name, value) in path_params {
        match described(&params, "path", name) {
            Some(p) => {
                if let Err(e) = check_text_param(p, value) {
                    out.push(e);
                }
            }
            None => out.push(format!("path parameter {name} is not described")),
        }
    }
    check_query(api, &params, &req.query, &mut out);
    check_body(api, &params, req, &mut out);
    out
}

/// The operation's parameter `name` that is passed `place` (`path`, `query`).
fn described<'a>(params: &'a [Value], place: &str, name: &str) -> Option<&'a Value> {
    params
        .iter()
        .find(|p| p["in"] == place && p["name"] == name)
}

/// Query parameters: each described (the token parameters of the security
/// definitions go with every operation) and well-typed, none required missing.
fn check_query(api: &Value, params: &[Value], query: &[(String, String)], out: &mut Vec<String>) {
    let security_query: Vec<&str> = api["securityDefinitions"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, d)| d["in"] == "query")
        .filter_map(|(_, d)| d["name"].as_str())
        .collect();
    for (name, value) in query {
        if security_query.contains(&name.as_str()) {
            continue;
        }
        match described(params, "query", name) {
            Some(p) => {
                if let Err(e) = check_text_param(p, value) {
                    out.push(e);
                }
            }
            None => out.push(format!(
                "query parameter {name:?} is not described for this operation"
            )),
        }
    }
    for p in params
        .iter()
        .filter(|p| p["in"] == "query" && p["required"] == true)
    {
        let n = p["name"].as_str().unwrap_or("");
        if !query.iter().any(|(k, _)| k == n) {
            out.push(format!("required query parameter {n} is missing"));
        }
    }
}

/// The body: present exactly when the operation takes one (and needs it), of
/// a content type the API consumes, and matching the body parameter's schema.
fn check_body(api: &Value, params: &[Value], req: &Request, out: &mut Vec<String>) {
    let body_param = params.iter().find(|p| p["in"] == "body");
    match (body_param, req.body.is_empty()) {
        (None, false) => out.push("this operation takes no body".into()),
        (Some(p), true) => {
            let schema = resolve(api, &p["schema"]);
            if p["required"] == true || schema["required"].as_array().is_some_and(|r| !r.is_empty())
            {
                out.push("the body is missing".into());
            }
        }
        (Some(p), false) => {
            let ct = req.header("content-type").unwrap_or("");
            let consumes: Vec<&str> = api["consumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !consumes.iter().any(|c| ct.starts_with(c)) {
                out.push(format!("Content-Type {ct:?} is not one of {consumes:?}"));
            }
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(v) => check_schema(api, &p["schema"], &v, "body", out),
                Err(e) => out.push(format!("the body is not JSON: {e}")),
            }
        }
        (None, true) => {}
    }
}
