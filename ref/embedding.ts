/**
 * f64 reference: y[r, :] = table[ids[r], :] for table `[v, d]` row-major; an id outside [0, v)
 * gives a row of zeros (the kernel's behaviour for ids in a GPU tensor).
 */
export function embeddingRef(
  ids: ArrayLike<number>,
  table: ArrayLike<number>,
  v: number,
  d: number,
): Float64Array {
  const y = new Float64Array(ids.length * d);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r];
    if (id < 0 || id >= v) continue;
    for (let j = 0; j < d; j++) y[r * d + j] = table[id * d + j];
  }
  return y;
}
