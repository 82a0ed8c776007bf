//! `GET /api/openapi.json` (issue 13.3): an OpenAPI 3.1 document that covers every
//! registered route, with its parameters, bodies, responses and the error shape.

use crate::helpers::TestApp;
use calsync_api::routes;
use serde_json::Value;

async fn document(app: &TestApp) -> Value {
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    res.json().await.unwrap()
}

#[tokio::test]
async fn every_registered_route_is_in_the_document_and_nothing_else() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let registered = routes::registered();
    assert!(registered.len() >= 18, "{registered:?}");
    for (method, path) in &registered {
        let op = &doc["paths"][path][method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{method} {path} is registered but not documented"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no response"
        );
    }
    let mut documented = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented += 1;
            assert!(
                registered
                    .iter()
                    .any(|(m, p)| p == path && m.eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not registered"
            );
        }
    }
    assert_eq!(documented, registered.len());
}

#[tokio::test]
async fn errors_bodies_and_parameters_are_described() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert!(error["properties"]["error"].is_object(), "{error}");
    let detail = &doc["components"]["schemas"]["ErrorDetail"]["properties"];
    assert!(
        detail["code"].is_object() && detail["message"].is_object(),
        "{detail}"
    );

    // Every 4xx/5xx answer of our own handlers has the error shape.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    if path == "/readyz" {
                        continue;
                    }
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }

    let availability = &doc["paths"]["/api/availability"]["get"];
    let params: Vec<&str> = availability["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["specialistId", "from", "to", "duration"]);
    let search = &doc["paths"]["/api/availability/search"]["post"];
    assert!(search["requestBody"]["content"]["application/json"]["schema"].is_object());
    let body = &doc["components"]["schemas"]["Body"];
    let _ = body;
    let booking = &doc["paths"]["/api/appointments"]["post"];
    assert_eq!(booking["security"][0]["marketplace"], serde_json::json!([]));
    for status in ["201", "401", "409", "422"] {
        assert!(booking["responses"][status].is_object(), "booking {status}");
    }
    assert!(doc["components"]["securitySchemes"]["marketplace"].is_object());
    let text = serde_json::to_string(&doc).unwrap();
    assert!(
        text.contains("compact"),
        "the compact grid format is documented"
    );
}
