//! Values nested 100,000 deep, built by a template (helm renders these), are built, walked and
//! freed on a caller's small thread stack without overflowing it (issue 23).

fn render_on_small_stack(src: &'static str) -> String {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let data = berth_template::Value::from_json(&serde_json::json!({}));
            berth_template::render("t", src, &data).unwrap()
        })
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn deeply_nested_lists_render_as_go_does() {
    let out = render_on_small_stack(
        r#"{{ $x := list }}{{ range until 100000 }}{{ $x = list $x }}{{ end }}{{ toJson $x | len }} {{ printf "%v" $x | len }} {{ toString $x | len }}"#,
    );
    // `[[...[]...]]`: 100,000 pairs of brackets around an empty list.
    assert_eq!(out, "200002 200002 200002");
}

#[test]
fn deeply_nested_dicts_render_and_copy() {
    let out = render_on_small_stack(
        r#"{{ $d := dict }}{{ range until 100000 }}{{ $d = dict "a" $d }}{{ end }}{{ toJson $d | len }} {{ deepCopy $d | toJson | len }}"#,
    );
    // `{"a":` 100,000 times, `{}`, and as many `}`.
    assert_eq!(out, "600002 600002");
}
