// Wording shared by the pages.

/** "1 error", "2 errors", "1,024 spans". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? word : many}`;
}
