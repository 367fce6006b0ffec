// The query editor: CodeMirror 6 with the Insights language (highlighting, completion of
// commands, functions and discovered fields), Ctrl/Cmd+Enter runs, and the server's error
// underlined where it points.
import { useEffect, useRef } from "preact/hooks";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { bracketMatching } from "@codemirror/language";
import { EditorState, Prec } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, placeholder } from "@codemirror/view";
import { completionKeymap } from "@codemirror/autocomplete";
import { insightsSupport, showQueryError } from "./insightsLang";

export interface EditorError {
  message: string;
  start: number;
  end: number;
}

export function InsightsEditor({
  value,
  fields,
  error,
  onChange,
  onRun,
}: {
  value: string;
  fields: string[];
  error: EditorError | null;
  onChange: (text: string) => void;
  onRun: (text: string) => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const cb = useRef({ onChange, onRun, fields });
  cb.current = { onChange, onRun, fields };
  useEffect(() => {
    const v = new EditorView({
      parent: ref.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          history(),
          bracketMatching(),
          EditorView.lineWrapping,
          placeholder("fields @timestamp, @message | sort @timestamp desc | limit 100"),
          insightsSupport(() => cb.current.fields),
          Prec.highest(
            keymap.of([
              {
                key: "Mod-Enter",
                run: (ed) => {
                  cb.current.onRun(ed.state.doc.toString());
                  return true;
                },
              },
            ]),
          ),
          keymap.of([...completionKeymap, ...defaultKeymap, ...historyKeymap]),
          EditorView.contentAttributes.of({ "aria-label": "Query" }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) cb.current.onChange(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => v.destroy();
  }, []);
  // `value` is the committed query (the URL's), not the text being typed: it changes when
  // the query is set from outside (history, saved query, a sidebar filter), and then
  // replaces the text. (Feeding the typed text back raced with typing: a render one
  // keystroke behind replaced the text, which re-rendered, and so on.)
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);
  useEffect(() => {
    const v = view.current;
    if (v && error) showQueryError(v, error.message, error.start, error.end);
  }, [error]);
  return <div class="insights-editor" ref={ref} />;
}
