// The shell: navigation, theme, and the page for the current URL.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./styles.css";
import { DashboardList } from "./pages/DashboardList";
import { DashboardView } from "./pages/DashboardView";
import { Home } from "./pages/Home";
import { onLinkClick, useLocation } from "./router";
import { setApiKey } from "./api";
import { lazyPage } from "./lazy";

// The explorers load when first opened: a dashboard's initial JavaScript stays small.
const Logs = lazyPage(() => import("./pages/Logs").then((m) => m.Logs));
const Traces = lazyPage(() => import("./pages/Traces").then((m) => m.Traces));
const TraceView = lazyPage(() => import("./pages/TraceView").then((m) => m.TraceView));
const ServiceMap = lazyPage(() => import("./pages/ServiceMap").then((m) => m.ServiceMap));
const AlarmPages = lazyPage(() =>
  import("./alarms/routes").then(
    (m) =>
      ({ path, query }: { path: string; query: URLSearchParams }) =>
        m.alarmPages(path, query) ?? <NotFound path={path} />,
  ),
);

const THEME_KEY = "vigil.theme";

function initialTheme(): string {
  return localStorage.getItem(THEME_KEY) ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
}

function Page({ path, query }: { path: string; query: URLSearchParams }) {
  if (path === "/" || path === "") return <Home />;
  if (path === "/dashboards" || path === "/dashboards/") return <DashboardList />;
  const m = /^\/dashboards\/([^/]+)\/?$/.exec(path);
  if (m) return <DashboardView name={decodeURIComponent(m[1])} query={query} key={m[1]} />;
  if (path === "/logs" || path === "/logs/") return <Logs query={query} />;
  if (path === "/traces" || path === "/traces/") return <Traces query={query} />;
  const t = /^\/traces\/([^/]+)\/?$/.exec(path);
  if (t) return <TraceView id={decodeURIComponent(t[1])} query={query} key={t[1]} />;
  if (path === "/service-map" || path === "/service-map/") return <ServiceMap query={query} />;
  if (/^\/(metrics|alarms|incidents)(\/|$)/.test(path)) return <AlarmPages path={path} query={query} />;
  return <NotFound path={path} />;
}

function NotFound({ path }: { path: string }) {
  return (
    <div class="page-message" role="alert">
      <h1>Page not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. <a href="/">Go home</a>.
      </p>
    </div>
  );
}

/** Asks for the server's API key when a request was refused for the lack of one. */
function KeyPrompt() {
  const [shown, setShown] = useState(false);
  const [key, setKey] = useState("");
  useEffect(() => {
    const show = () => setShown(true);
    window.addEventListener("vigil:unauthorized", show);
    return () => window.removeEventListener("vigil:unauthorized", show);
  }, []);
  if (!shown) return null;
  return (
    <form
      class="key-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        setApiKey(key.trim());
        location.reload();
      }}
    >
      <label>
        This server needs an API key
        <input type="password" value={key} autoComplete="off" onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Use key</button>
    </form>
  );
}

function App() {
  const { path, query } = useLocation();
  const [theme, setTheme] = useState(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
    window.dispatchEvent(new Event("vigil:theme"));
  }, [theme]);
  const nav = (href: string, label: string) => (
    <a href={href} aria-current={(href === "/" ? path === "/" : path.startsWith(href)) ? "page" : undefined}>
      {label}
    </a>
  );
  return (
    <div class="shell" onClick={onLinkClick}>
      <header class="topbar">
        <a class="brand" href="/">
          vigil
        </a>
        <nav aria-label="Main">
          {nav("/", "Home")}
          {nav("/dashboards", "Dashboards")}
          {nav("/logs", "Logs")}
          {nav("/metrics", "Metrics")}
          {nav("/traces", "Traces")}
          {nav("/service-map", "Service map")}
          {nav("/alarms", "Alarms")}
          {nav("/incidents", "Incidents")}
        </nav>
        <button
          type="button"
          class="theme-toggle"
          aria-label={theme === "dark" ? "Switch to light theme" : "Switch to dark theme"}
          onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
        >
          {theme === "dark" ? "☀ Light" : "☾ Dark"}
        </button>
      </header>
      <KeyPrompt />
      <main>
        <Page path={path} query={query} />
      </main>
    </div>
  );
}

document.documentElement.dataset.theme = initialTheme();
render(<App />, document.getElementById("app")!);
