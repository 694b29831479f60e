// Ids kept in increasing order in a typed array (the store's queue entries and message locations).

/** The index of `id` in ids[low..high] (sorted, increasing), or -1. */
export function searchSortedIds(ids: Float64Array, low: number, high: number, id: number): number {
  if (high < low) return -1;
  if (ids[low] === id) return low;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const at = ids[middle];
    if (at === id) return middle;
    if (at < id) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}
