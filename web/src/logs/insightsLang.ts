// The Logs Insights language for CodeMirror 6: highlighting (a stream tokenizer that knows
// commands, functions, keywords, @fields, strings, regexes and comments), completion of
// commands, functions and the chosen groups' discovered fields, and the server's parse
// error underlined at its position (the page sets it with `showQueryError`).
import { autocompletion, CompletionContext, CompletionResult } from "@codemirror/autocomplete";
import { HighlightStyle, StreamLanguage, StringStream, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics, Diagnostic } from "@codemirror/lint";
import { Extension } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { tags } from "@lezer/highlight";

export const COMMANDS = [
  "fields",
  "display",
  "filter",
  "stats",
  "sort",
  "limit",
  "parse",
  "dedup",
  "unnest",
  "pattern",
  "diff",
];

// AWS spellings (the server matches names without regard to case).
export const FUNCTIONS = [
  "abs", "bin", "ceil", "coalesce", "concat", "dateceil", "datefloor", "floor", "fromMillis",
  "greatest", "isblank", "isempty", "isIpInSubnet", "isIpv4InSubnet", "isIpv6InSubnet",
  "ispresent", "isValidIp", "isValidIpV4", "isValidIpV6", "jsonParse", "least", "log", "ltrim",
  "replace", "rtrim", "sqrt", "strcontains", "strlen", "substr", "tolower", "toMillis",
  "toupper", "trim",
];
export const AGGREGATES = [
  "avg", "count", "count_distinct", "earliest", "latest", "max", "min", "pct", "sortsFirst",
  "sortsLast", "stddev", "sum",
];
const KEYWORDS = ["and", "or", "not", "by", "as", "in", "like", "asc", "desc", "SOURCE", "logGroups"];
export const SYSTEM_FIELDS = ["@timestamp", "@message", "@logStream", "@log", "@ingestionTime", "@ptr", "@traceId"];

const commandSet = new Set(COMMANDS);
const functionSet = new Set([...FUNCTIONS, ...AGGREGATES].map((f) => f.toLowerCase()));
const keywordSet = new Set(KEYWORDS.map((k) => k.toLowerCase()));

interface LexState {
  expectCommand: boolean; // at the start or after a pipe
  operand: boolean; // a regex may start here
}

function token(stream: StringStream, state: LexState): string | null {
  if (stream.eatSpace()) return null;
  const ch = stream.peek()!;
  if (ch === "#") {
    stream.skipToEnd();
    return "comment";
  }
  if (ch === "|") {
    stream.next();
    state.expectCommand = true;
    state.operand = false;
    return "operator";
  }
  if (ch === "'" || ch === '"') {
    stream.next();
    let escaped = false;
    for (let c = stream.next(); c !== undefined; c = stream.next()) {
      if (c === ch && !escaped) break;
      escaped = c === "\\" && !escaped;
    }
    state.operand = false;
    return "string";
  }
  if (ch === "/" && state.operand) {
    stream.next();
    let escaped = false;
    for (let c = stream.next(); c !== undefined; c = stream.next()) {
      if (c === "/" && !escaped) break;
      escaped = c === "\\" && !escaped;
    }
    stream.match(/^[a-z]*/);
    state.operand = false;
    return "regexp";
  }
  if (ch === "`") {
    stream.next();
    stream.skipTo("`") ? stream.next() : stream.skipToEnd();
    state.operand = false;
    return "variableName";
  }
  if (stream.match(/^-?\d+(\.\d+)?([a-z]+)?/i)) {
    state.operand = false;
    return "number";
  }
  if (stream.match(/^@[\w.]+/)) {
    state.operand = false;
    state.expectCommand = false;
    return "special";
  }
  const word = stream.match(/^[A-Za-z_][\w.]*/) as RegExpMatchArray | null;
  if (word) {
    const w = word[0];
    const lower = w.toLowerCase();
    if (state.expectCommand) {
      state.expectCommand = false;
      state.operand = true;
      if (commandSet.has(lower)) return "keyword";
      if (lower === "source") return "keyword";
      return "invalid";
    }
    if (keywordSet.has(lower)) {
      state.operand = true;
      return "operatorKeyword";
    }
    if (stream.peek() === "(" && functionSet.has(lower)) {
      state.operand = true;
      return "function";
    }
    state.operand = false;
    return "variableName";
  }
  stream.next();
  // After an operator or an opening bracket an operand (maybe a regex) may follow.
  state.operand = !(ch === ")" || ch === "]");
  return /[=!<>~+\-*/%^]/.test(ch) ? "operator" : "punctuation";
}

export const insightsLanguage = StreamLanguage.define<LexState>({
  name: "logs-insights",
  startState: () => ({ expectCommand: true, operand: false }),
  copyState: (s) => ({ ...s }),
  token,
  tokenTable: {
    special: tags.special(tags.variableName),
    invalid: tags.invalid,
    operatorKeyword: tags.operatorKeyword,
    function: tags.function(tags.variableName),
    regexp: tags.regexp,
  },
  languageData: { commentTokens: { line: "#" } },
});

const style = HighlightStyle.define([
  { tag: tags.keyword, color: "var(--hl-keyword)", fontWeight: "600" },
  { tag: tags.operatorKeyword, color: "var(--hl-keyword)" },
  { tag: tags.function(tags.variableName), color: "var(--hl-function)" },
  { tag: tags.special(tags.variableName), color: "var(--hl-field)" },
  { tag: tags.string, color: "var(--hl-string)" },
  { tag: tags.regexp, color: "var(--hl-regexp)" },
  { tag: tags.number, color: "var(--hl-number)" },
  { tag: tags.comment, color: "var(--fg-muted)", fontStyle: "italic" },
  { tag: tags.invalid, color: "var(--error-fg)", textDecoration: "underline wavy" },
]);

/** Where the cursor is: right after a pipe (a command comes), or elsewhere (an operand). */
function atCommandPosition(before: string): boolean {
  // A pipe inside a string before the cursor is taken for a command separator (rare).
  const lastPipe = before.lastIndexOf("|");
  const head = lastPipe < 0 ? before : before.slice(lastPipe + 1);
  return /^\s*$/.test(head);
}

export function completionSource(fields: () => string[]) {
  return (ctx: CompletionContext): CompletionResult | null => {
    const word = ctx.matchBefore(/[@\w.`]*/);
    if (!word || (word.from === word.to && !ctx.explicit)) return null;
    const before = ctx.state.doc.sliceString(0, word.from);
    if (atCommandPosition(before) && !word.text.startsWith("@")) {
      return {
        from: word.from,
        options: COMMANDS.map((c) => ({ label: c, type: "keyword", apply: c + " " })),
        validFor: /^\w*$/,
      };
    }
    const options = [
      ...[...new Set([...SYSTEM_FIELDS, ...fields()])].map((f) => ({
        label: f,
        type: "variable",
        apply: /^[@\w.]+$/.test(f) ? f : "`" + f + "`",
        boost: f.startsWith("@") ? 1 : 0,
      })),
      ...FUNCTIONS.map((f) => ({ label: f, type: "function", apply: f + "(" })),
      ...AGGREGATES.map((f) => ({ label: f, type: "function", detail: "aggregate", apply: f + "(" })),
      ...KEYWORDS.slice(0, 9).map((k) => ({ label: k, type: "keyword" })),
    ];
    return { from: word.from, options, validFor: /^[@\w.]*$/ };
  };
}

/** The server's error, underlined at its offsets (cleared when the text changes). */
export function showQueryError(view: EditorView, message: string, start: number, end: number): void {
  const len = view.state.doc.length;
  let from = Math.min(Math.max(start, 0), len);
  let to = Math.min(Math.max(end, from), len);
  if (to === from) {
    // At the end of the query (or an empty token): underline the character before it.
    if (from > 0 && from === len) from -= 1;
    else to = Math.min(from + 1, len);
  }
  const diagnostics: Diagnostic[] = [{ from, to, severity: "error", message, source: "server" }];
  view.dispatch(setDiagnostics(view.state, diagnostics));
}

export function insightsSupport(fields: () => string[]): Extension {
  return [
    insightsLanguage,
    syntaxHighlighting(style),
    autocompletion({ override: [completionSource(fields)], activateOnTyping: true }),
    // No client-side linting: the server's parser is the one truth; its diagnostics are
    // set with setDiagnostics and cleared by the editor after an edit (a no-op linter
    // would also clear them when its first pass came after the server's answer).
    lintGutter(),
  ];
}
