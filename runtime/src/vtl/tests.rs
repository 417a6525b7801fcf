//! Templates in the style of API Gateway's documentation, with the output
//! written by hand from Velocity's and API Gateway's documented semantics.

use serde_json::{Value, json};

use super::*;

/// The request every test renders against (leaked: tests only).
fn inputs(body: &str) -> Inputs<'static> {
    let leak = |v: Vec<(String, String)>| -> &'static [(String, String)] { Vec::leak(v) };
    let context = Val::from_json(&json!({
        "requestId": "req-1", "stage": "prod", "httpMethod": "POST", "resourcePath": "/pets/{petId}",
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "curl/8"},
        "authorizer": {"principalId": "alice"},
    }));
    let stage_variables = Val::from_json(&json!({"env": "production", "table": "pets"}));
    Inputs {
        body: Vec::leak(body.as_bytes().to_vec()),
        path_params: leak(vec![("petId".into(), "7".into())]),
        query: leak(vec![
            ("type".into(), "dog".into()),
            ("page".into(), "2".into()),
        ]),
        headers: leak(vec![
            ("Accept".into(), "application/json".into()),
            ("x-tenant".into(), "acme".into()),
        ]),
        context: Box::leak(Box::new(context)),
        stage_variables: Box::leak(Box::new(stage_variables)),
    }
}

fn render(template: &str, body: &str) -> String {
    Template::parse(template)
        .unwrap_or_else(|e| panic!("{e}"))
        .render(&inputs(body), Direction::Request)
        .unwrap_or_else(|e| panic!("{e}"))
        .body
}

fn render_json(template: &str, body: &str) -> Value {
    let out = render(template, body);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

#[test]
fn input_body_json_path_and_params() {
    let body = r#"{"name":"Rex","tags":["a","b"],"owner":{"id":3}}"#;
    assert_eq!(render("$input.body", body), body);
    assert_eq!(render("$input.json('$.owner')", body), r#"{"id":3}"#);
    assert_eq!(render("$input.json('$.tags[1]')", body), r#""b""#);
    assert_eq!(render("$input.path('$.tags').size()", body), "2");
    assert_eq!(render("$input.path('$.owner.id')", body), "3");
    assert_eq!(render("[$input.path('$.missing')]", body), "[]");
    assert_eq!(
        render(
            "$input.params('petId') $input.params('type') $input.params('X-Tenant')",
            body
        ),
        "7 dog acme"
    );
    assert_eq!(render("[$input.params('nope')]", body), "[]");
    assert_eq!(render("$input.params().querystring.page", body), "2");
    assert_eq!(
        render("$input.params().header.get('x-tenant')", body),
        "acme"
    );
}

#[test]
fn context_and_stage_variables() {
    assert_eq!(
        render(
            "$context.requestId $context.identity.sourceIp $context.authorizer.principalId ${stageVariables.env}",
            ""
        ),
        "req-1 192.0.2.1 alice production"
    );
    // An undefined reference stays as written; `$!` makes it vanish.
    assert_eq!(
        render("[$nothing] [$!nothing] [${nothing}]", ""),
        "[$nothing] [] [${nothing}]"
    );
}

/// The shape of the documentation's "photos" model transformation.
#[test]
fn foreach_with_foreach_has_next() {
    let template = r#"#set($inputRoot = $input.path('$'))
{
  "photos": [
#foreach($elem in $inputRoot.photos.photo)
    {
      "id": "$elem.id",
      "title": "$elem.title",
      "index": $foreach.index
    }#if($foreach.hasNext),#end

#end
  ]
}"#;
    let body =
        r#"{"photos":{"page":1,"photo":[{"id":"p1","title":"Sea"},{"id":"p2","title":"Sky"}]}}"#;
    let out = render(template, body);
    assert_eq!(
        out,
        "{\n  \"photos\": [\n    {\n      \"id\": \"p1\",\n      \"title\": \"Sea\",\n      \"index\": 0\n    },\n\n    {\n      \"id\": \"p2\",\n      \"title\": \"Sky\",\n      \"index\": 1\n    }\n\n  ]\n}"
    );
}

/// The documentation's general-purpose "method request passthrough"
/// template, abridged.
#[test]
fn passthrough_template() {
    let template = r#"#set($allParams = $input.params())
{
"body-json" : $input.json('$'),
"params" : {
#foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
"$type" : {
    #foreach($paramName in $params.keySet())
    "$paramName" : "$util.escapeJavaScript($params.get($paramName))"
        #if($foreach.hasNext),#end
    #end
}
    #if($foreach.hasNext),#end
#end
},
"stage-variables" : {
#foreach($key in $stageVariables.keySet())
"$key" : "$util.escapeJavaScript($stageVariables.get($key))"
    #if($foreach.hasNext),#end
#end
},
"context" : {
    "http-method" : "$context.httpMethod",
    "stage" : "$context.stage",
    "source-ip" : "$context.identity.sourceIp",
    "user-agent" : "$context.identity.userAgent",
    "request-id" : "$context.requestId",
    "resource-path" : "$context.resourcePath"
    }
}"#;
    let out = render_json(template, r#"{"a": "it's"}"#);
    assert_eq!(
        out,
        json!({
            "body-json": {"a": "it's"},
            "params": {
                "path": {"petId": "7"},
                "querystring": {"type": "dog", "page": "2"},
                "header": {"Accept": "application/json", "x-tenant": "acme"},
            },
            "stage-variables": {"env": "production", "table": "pets"},
            "context": {
                "http-method": "POST", "stage": "prod", "source-ip": "192.0.2.1",
                "user-agent": "curl/8", "request-id": "req-1", "resource-path": "/pets/{petId}",
            },
        })
    );
}

#[test]
fn conditions_operators_and_set() {
    let template = "#set($n = $input.path('$.count'))\n#if($n > 10)\nmany\n#elseif($n == 3 && !false)\nthree\n#else\nfew\n#end\n";
    assert_eq!(render(template, r#"{"count": 12}"#), "many\n");
    assert_eq!(render(template, r#"{"count": 3}"#), "three\n");
    assert_eq!(render(template, r#"{"count": 1}"#), "few\n");
    assert_eq!(
        render("#set($a = 7)#set($b = $a * 3 + 1)$b $a / 2 ${a}", ""),
        "22 7 / 2 7"
    );
    assert_eq!(render("#set($s = \"n=$a\")#set($a = 1)$s", ""), "n=$a");
    assert_eq!(render("#set($x = 'lit $a')$x", ""), "lit $a");
    assert_eq!(
        render("#if('5' == 5)same#end #if($nothing)x#else none#end", ""),
        "same  none"
    );
    assert_eq!(
        render("#foreach($i in [1..3])$i#if($foreach.hasNext),#end#end", ""),
        "1,2,3"
    );
    assert_eq!(render("#foreach($i in [3..1])$i#end", ""), "321");
    assert_eq!(
        render("#foreach($i in [1,2,3,4])#if($i == 3)#break#end$i#end", ""),
        "12"
    );
    assert_eq!(
        render(
            "#set($m = {'a': 1, \"b\": [true]})$m.a $m.b[0] $m.get('b').size()",
            ""
        ),
        "1 true 1"
    );
    assert_eq!(
        render(
            "#set($l = [])#set($ok = $l.add('x'))#set($ok = $l.add('y'))$l $l.size()",
            ""
        ),
        "[x, y] 2"
    );
    assert_eq!(render("#set($m = {})#set($m.k = 'v')$m.k", ""), "v");
}

#[test]
fn strings_and_util() {
    assert_eq!(
        render("$util.escapeJavaScript('It''s \"quoted\"')", ""),
        r#"It\'s \"quoted\""#
    );
    assert_eq!(escape_javascript("a/b\nc\u{e9}"), "a\\/b\\nc\\u00E9");
    assert_eq!(
        render("$util.urlEncode('a b&c=d/é')", ""),
        "a+b%26c%3Dd%2F%C3%A9"
    );
    assert_eq!(render("$util.urlDecode('a+b%26c')", ""), "a b&c");
    assert_eq!(render("$util.base64Encode('hello')", ""), "aGVsbG8=");
    assert_eq!(render("$util.base64Decode('aGVsbG8=')", ""), "hello");
    assert_eq!(
        render("#set($o = $util.parseJson('{\"k\":[1,2]}'))$o.k.get(1)", ""),
        "2"
    );
    assert_eq!(
        render(
            "#set($s = 'Hello World')$s.toUpperCase() $s.length() $s.substring(6) $s.replaceAll('o', '0') $s.split(' ').size() $s.contains('World')",
            ""
        ),
        "HELLO WORLD 11 World Hell0 W0rld 2 true"
    );
    assert_eq!(
        render("$util.escapeJavaScript($input.json('$'))", r#"{"a":"b"}"#),
        r#"{\"a\":\"b\"}"#
    );
}

#[test]
fn response_overrides() {
    let template = "#set($root = $input.path('$'))\n#if($root.error)\n#set($context.responseOverride.status = 400)\n#set($context.responseOverride.header.x-error = \"$root.error\")\n#end\n{\"ok\": #if($root.error)false#{else}true#end}";
    let t = Template::parse(template).expect("parses");
    let failed = t
        .render(&inputs(r#"{"error":"bad pet"}"#), Direction::Response)
        .expect("renders");
    assert_eq!(failed.status, Some(400));
    assert_eq!(
        failed.headers,
        vec![("x-error".to_owned(), "bad pet".to_owned())]
    );
    assert_eq!(failed.body, "{\"ok\": false}");
    let fine = t
        .render(&inputs(r#"{}"#), Direction::Response)
        .expect("renders");
    assert_eq!((fine.status, fine.body.as_str()), (None, "{\"ok\": true}"));
}

#[test]
fn comments_and_literal_text() {
    assert_eq!(
        render(
            "a ## gone\nb #* also\ngone *#c #[[$raw #if]]# #notadirective $5 100%",
            ""
        ),
        "a b c $raw #if #notadirective $5 100%"
    );
    assert_eq!(render("  #set($a = 1)\n  $a\n", ""), "  1\n");
}

#[test]
fn syntax_errors_name_line_and_column() {
    for (template, want) in [
        (
            "{\n  #if($a\n}",
            "line 3, column 1: `#if(` without a closing `)`",
        ),
        (
            "#foreach($x $list)\n#end",
            "line 1, column 13: `#foreach` needs `in`: `#foreach($item in $list)`",
        ),
        (
            "ok\n#end",
            "line 2, column 1: `#end` without an opening `#if` or `#foreach`",
        ),
        ("#if(true)\nx", "line 1, column 1: `#if` without `#end`"),
        ("${a.b", "line 1, column 6: `${` without a closing `}`"),
        ("#set($a 1)", "line 1, column 9: `#set` needs `=`"),
        (
            "$x.m('a',)",
            "line 1, column 10: expected a value, found `)`",
        ),
        (
            "#set($a = \"unterminated)",
            "line 1, column 11: a `\"` string without its closing `\"`",
        ),
    ] {
        let error = Template::parse(template).expect_err(template);
        assert_eq!(error.to_string(), want, "{template}");
    }
}

#[test]
fn runaway_templates_are_stopped() {
    let t = Template::parse("#foreach($i in [1..100000])#foreach($j in [1..100000])x#end#end")
        .expect("parses");
    let error = t
        .render(&inputs(""), Direction::Request)
        .expect_err("too much");
    assert!(matches!(error, RenderError::Template(_)), "{error}");
    let t = Template::parse("$input.path('$.a')").expect("parses");
    assert_eq!(
        t.render(&inputs("not json"), Direction::Request),
        Err(RenderError::Input("the body is not JSON".into()))
    );
}
