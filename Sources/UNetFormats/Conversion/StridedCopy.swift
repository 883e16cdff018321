/// The elements of a strided view of `values`, in C (row-major) order of `shape`.
/// The caller has checked that every addressed element lies inside `values`.
func stridedCopy<T>(_ values: [T], offset: Int, shape: [Int], strides: [Int]) -> [T] {
    let count = shape.reduce(1, *)
    var result: [T] = []
    result.reserveCapacity(count)
    var index = [Int](repeating: 0, count: shape.count)
    for _ in 0..<count {
        var position = offset
        for axis in index.indices { position += index[axis] * strides[axis] }
        result.append(values[position])
        var axis = index.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < shape[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
    return result
}
