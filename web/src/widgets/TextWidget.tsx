// A text widget: its markdown, with raw HTML shown as text (a dashboard body is data).
import { Marked } from "marked";

const md = new Marked({
  gfm: true,
  renderer: {
    html({ text }: { text: string }) {
      return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    },
  },
});

export function TextWidget({ properties }: { properties: Record<string, any> }) {
  const html = md.parse(String(properties.markdown ?? ""), { async: false }) as string;
  return (
    <div
      class={`markdown ${properties.background === "transparent" ? "transparent" : ""}`}
      dangerouslySetInnerHTML={{ __html: html }}
    />
  );
}
