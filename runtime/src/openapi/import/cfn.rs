//! CloudFormation intrinsics left in SAM and CloudFormation output
//! (`{"Ref": ...}`, `{"Fn::Sub": ...}`, `{"Fn::GetAtt": ...}`,
//! `{"Fn::Join": ...}`): substituted from `--map` values, pseudo
//! parameters from the API's AWS names, and anything else reported.

use std::collections::BTreeMap;

use serde_json::Value;

/// What intrinsics are resolved against.
pub struct Intrinsics<'a> {
    /// `--map NAME=VALUE`.
    pub maps: &'a BTreeMap<String, String>,
    /// `AWS::Region`'s value when not mapped.
    pub region: &'a str,
    /// `AWS::AccountId`'s value when not mapped.
    pub account_id: &'a str,
}

/// A string whose intrinsics could not all be resolved: the names a
/// `--map` should give.
#[derive(Debug, PartialEq, Eq)]
pub struct Unresolved(pub Vec<String>);

impl Intrinsics<'_> {
    /// The string `value` stands for. `Ok(None)` when it is no string at
    /// all (a number, an object that is no intrinsic).
    pub fn string(&self, value: &Value) -> Result<Option<String>, Unresolved> {
        let mut missing = Vec::new();
        let out = self.resolve(value, &mut missing);
        if missing.is_empty() {
            Ok(out)
        } else {
            missing.dedup();
            Err(Unresolved(missing))
        }
    }

    fn resolve(&self, value: &Value, missing: &mut Vec<String>) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Object(object) if object.len() == 1 => {
                let (name, argument) = object.iter().next()?;
                match name.as_str() {
                    "Ref" => Some(self.name(argument.as_str()?, missing)),
                    "Fn::GetAtt" => {
                        let name = match argument {
                            Value::Array(parts) => parts
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("."),
                            Value::String(s) => s.clone(),
                            _ => return None,
                        };
                        Some(self.name(&name, missing))
                    }
                    "Fn::Sub" => {
                        let (text, variables) = match argument {
                            Value::String(s) => (s.as_str(), None),
                            Value::Array(parts) => (parts.first()?.as_str()?, parts.get(1)),
                            _ => return None,
                        };
                        Some(self.substitute(text, variables, missing))
                    }
                    "Fn::Join" => {
                        let parts = argument.as_array()?;
                        let separator = parts.first()?.as_str()?;
                        let items = parts.get(1)?.as_array()?;
                        let mut out = Vec::new();
                        for item in items {
                            out.push(self.resolve(item, missing)?);
                        }
                        Some(out.join(separator))
                    }
                    other if other.starts_with("Fn::") => {
                        missing.push(format!(
                            "{other} (an intrinsic the importer cannot evaluate)"
                        ));
                        Some(String::new())
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// `${NAME}` references of `Fn::Sub` text; `${!Literal}` stays literal.
    fn substitute(
        &self,
        text: &str,
        variables: Option<&Value>,
        missing: &mut Vec<String>,
    ) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.and_then(|v| v.get(name)) {
                out.push_str(&self.resolve(value, missing).unwrap_or_default());
            } else {
                out.push_str(&self.name(name, missing));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A logical name, attribute (`Fn.Arn`) or pseudo parameter.
    fn name(&self, name: &str, missing: &mut Vec<String>) -> String {
        if let Some(value) = self.maps.get(name) {
            return value.clone();
        }
        match name {
            "AWS::Region" => self.region.to_owned(),
            "AWS::AccountId" => self.account_id.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            _ => {
                // A SAM function's ARN: named after the function, so the
                // Lambda mapping (`--map Function=plugin`) applies.
                if let Some(function) = name.strip_suffix(".Arn") {
                    return format!(
                        "arn:aws:lambda:{}:{}:function:{function}",
                        self.region, self.account_id
                    );
                }
                missing.push(name.to_owned());
                String::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_the_usual_intrinsics() {
        let maps = BTreeMap::from([("Stage".to_owned(), "prod".to_owned())]);
        let x = Intrinsics {
            maps: &maps,
            region: "eu-west-1",
            account_id: "111122223333",
        };
        assert_eq!(
            x.string(&json!({"Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Hello.Arn}/invocations"})),
            Ok(Some("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:111122223333:function:Hello/invocations".to_owned()))
        );
        assert_eq!(x.string(&json!({"Ref": "Stage"})), Ok(Some("prod".into())));
        assert_eq!(
            x.string(&json!({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]})),
            Ok(Some("a-prod".into()))
        );
        assert_eq!(
            x.string(&json!({"Fn::Sub": ["${A}/${!B}", {"A": "x"}]})),
            Ok(Some("x/${B}".into()))
        );
        assert_eq!(
            x.string(&json!({"Ref": "ApiName"})),
            Err(Unresolved(vec!["ApiName".into()]))
        );
        assert_eq!(x.string(&json!({"a": 1, "b": 2})), Ok(None));
    }
}
