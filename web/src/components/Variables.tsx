// The dashboard's variables as inputs in the toolbar.
import { Variable, variableId } from "../widgets/variables";

export function Variables({
  variables,
  chosen,
  onChange,
}: {
  variables: Variable[];
  chosen: Record<string, string>;
  onChange: (id: string, value: string) => void;
}) {
  return (
    <div class="variables" role="group" aria-label="Dashboard variables">
      {variables.map((v, i) => {
        if (v.visible === false) return null;
        const id = variableId(v, i);
        const label = v.label ?? v.property ?? id;
        const value = chosen[id] ?? v.defaultValue ?? "";
        if (v.inputType === "input" || !v.values?.length)
          return (
            <label class="inline" key={id}>
              {label}
              <input
                value={value}
                onChange={(e) => onChange(id, (e.target as HTMLInputElement).value)}
              />
            </label>
          );
        return (
          <label class="inline" key={id}>
            {label}
            <select value={value} onChange={(e) => onChange(id, (e.target as HTMLSelectElement).value)}>
              {v.values.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label ?? o.value}
                </option>
              ))}
            </select>
          </label>
        );
      })}
    </div>
  );
}
