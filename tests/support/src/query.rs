//! Query strings as identity providers send them, form-encoded by `form_urlencoded`.

/// A `filter=` value percent-encoded the way Entra ID sends it (spaces as `+`).
pub fn q(filter: &str) -> String {
    form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

/// A `filter=` value percent-encoded the way Okta sends it (spaces as `%20`, as in
/// `filter=userName%20eq%20%22test.user%40okta.local%22`). A `+` in the filter is already
/// `%2B`, so every `+` left stands for a space.
pub fn q20(filter: &str) -> String {
    q(filter).replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_are_plus_for_entra_and_percent_20_for_okta() {
        let f = "userName eq \"a+b@contoso.com\"";
        assert_eq!(q(f), "userName+eq+%22a%2Bb%40contoso.com%22");
        assert_eq!(q20(f), "userName%20eq%20%22a%2Bb%40contoso.com%22");
    }
}
