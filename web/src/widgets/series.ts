// A metric widget's data as /api/v1/dashboards/metric-data answers it: one time axis for
// the widget, each series' values on it (null or NaN: no data point), or the widget's
// error. The page asks for the columnar form (vigil.api.columns): times and values come
// as Float64Array views of the answer's bytes, nothing parsed per number.

export type Values = Float64Array | (number | null)[];

export interface SeriesData {
  row: number; // the index of its row in the widget's "metrics"
  id: string;
  label: string;
  values: Values;
}

export interface WidgetData {
  times?: Float64Array | number[]; // epoch seconds, ascending
  series?: SeriesData[];
  error?: string;
}

/** A value that is there (not null, not NaN). */
export function isValue(v: number | null | undefined): v is number {
  return v != null && v === v;
}

export const COLUMNS_TYPE = "application/vnd.vigil.columns";

/** The document of a columnar answer: ``{"$f64": [offset, length]}`` become Float64Array
 *  views of the data block (no copy). */
export function decodeColumns(buffer: ArrayBuffer): any {
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== "VGC1") throw new Error("not a columnar answer");
  const size = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, size)));
  const start = 8 + size;
  const walk = (node: any): any => {
    if (Array.isArray(node)) return node.map(walk);
    if (node && typeof node === "object") {
      const ref = node.$f64;
      if (Array.isArray(ref) && Object.keys(node).length === 1)
        return new Float64Array(buffer, start + ref[0] * 8, ref[1]);
      const out: Record<string, any> = {};
      for (const k in node) out[k] = walk(node[k]);
      return out;
    }
    return node;
  };
  return walk(header);
}
