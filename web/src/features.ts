// Optional APIs this server has (the shell's <meta name="vigil-features">).
const meta = document.querySelector('meta[name="vigil-features"]');
const features = new Set((meta?.getAttribute("content") ?? "").split(/\s+/).filter(Boolean));

export function hasFeature(name: string): boolean {
  return features.has(name);
}
