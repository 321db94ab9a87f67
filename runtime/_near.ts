/**
 * "Did you mean": the candidate nearest a misspelled word. Shared by the manifest's unknown keys and the
 * module loader's unknown imports and exports. A dozen lines of edit distance over short identifiers; no
 * library is worth a dependency (and a module load on the launcher's start path) for it.
 *
 * @module
 */

/**
 * The candidate closest to `word` by edit distance, when it is close enough to be a likely typo: up to one
 * edit per three characters, at least one ("widow" → "window", "modlues" → "modules"). Null otherwise.
 */
export function closest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
