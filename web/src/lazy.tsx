// Pages whose code loads when they are first shown (a chunk of their own): the
// dashboards' initial JavaScript does not carry the explorers' (CodeMirror, …).
import { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";

export function lazyPage<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  let failed: Error | null = null;
  let pending: Promise<void> | null = null;
  return function LazyPage(props: P) {
    const [, setTick] = useState(0);
    useEffect(() => {
      if (loaded || failed) return;
      pending ??= load().then(
        (c) => void (loaded = c),
        (e) => void (failed = e instanceof Error ? e : new Error(String(e))),
      );
      let live = true;
      pending.then(() => live && setTick((t) => t + 1));
      return () => {
        live = false;
      };
    }, []);
    if (failed)
      return (
        <div class="page-message" role="alert">
          <h1>The page could not be loaded</h1>
          <p>{failed.message}</p>
        </div>
      );
    if (!loaded) return <div class="page-message">Loading…</div>;
    const Page = loaded;
    return <Page {...props} />;
  };
}
