// A metric widget's data as /api/v1/dashboards/metric-data answers it: one time axis for
// the widget, each series' values on it (null: no data point), or the widget's error.

export interface SeriesData {
  row: number; // the index of its row in the widget's "metrics"
  id: string;
  label: string;
  values: (number | null)[];
}

export interface WidgetData {
  times?: number[]; // epoch seconds, ascending
  series?: SeriesData[];
  error?: string;
}
