// Builds the UI into the Python package (src/vigil/web/static), which vigil serves itself:
// no CDN, nothing fetched at run time.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/static/",
  build: {
    outDir: "../src/vigil/web/static",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
});
