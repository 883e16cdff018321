import UNetCheckpoint

/// Merges of skip connections, gates and channel reductions over maps of 1, 2 or 3 spatial axes.
/// Shapes come from the network and the input file, so a mismatch throws an ``InferenceError``
/// naming both shapes instead of crashing.
enum Merging: Sendable {
    /// The centre of `map` at the `target` spatial sizes: offset `⌊(in − out)/2⌋` per axis.
    static func centreCrop(_ map: FeatureMap, to target: [Int]) throws(InferenceError) -> FeatureMap {
        try checkAxes(map, target, "crop")
        guard zip(map.spatial, target).allSatisfy({ $1 >= 0 && $1 <= $0 }) else {
            throw InferenceError(message: "cannot crop a map of \(map.spatial) to \(target)")
        }
        return window(map, sizes: target, offsets: zip(map.spatial, target).map { ($0 - $1) / 2 }, replicate: false)
    }

    /// `map` zero-padded to the `target` spatial sizes, `⌊(out − in)/2⌋` before on each axis and the
    /// rest after.
    static func zeroPad(_ map: FeatureMap, to target: [Int]) throws(InferenceError) -> FeatureMap {
        try checkAxes(map, target, "pad")
        guard zip(map.spatial, target).allSatisfy({ $1 >= $0 }) else {
            throw InferenceError(message: "cannot pad a map of \(map.spatial) to \(target)")
        }
        return window(map, sizes: target, offsets: zip(map.spatial, target).map { -(($1 - $0) / 2) }, replicate: false)
    }

    /// `map` padded at the end of each axis to the `target` sizes by repeating its last value
    /// (MONAI BasicUNet's `replicate` pad).
    static func replicatePadEnd(_ map: FeatureMap, to target: [Int]) throws(InferenceError) -> FeatureMap {
        try checkAxes(map, target, "pad")
        guard zip(map.spatial, target).allSatisfy({ $1 >= $0 && ($0 > 0 || $1 == 0) }) else {
            throw InferenceError(message: "cannot replicate-pad a map of \(map.spatial) to \(target)")
        }
        return window(map, sizes: target, offsets: [Int](repeating: 0, count: target.count), replicate: true)
    }

    /// The maps joined along the channels, in the order given.
    static func concatenate(_ maps: [FeatureMap], threads: Int = 1) throws(InferenceError) -> FeatureMap {
        guard let first = maps.first else { throw InferenceError(message: "nothing to concatenate") }
        for map in maps where map.batch != first.batch || map.spatial != first.spatial {
            throw InferenceError(
                message: "cannot concatenate maps of shapes \(first.shape) and \(map.shape): batch and sizes differ")
        }
        let channels = maps.reduce(0) { $0 + $1.channels }
        let plane = first.plane
        // Channel by channel on `threads` threads: (sample, map, channel) → its place in the output.
        var sources: [(UnsafePointer<Float>, Int)] = []
        var output = FeatureMap(uninitialized: first.batch, channels: channels, spatial: first.spatial)
        withExtendedLifetime(maps) {
            for sample in 0..<first.batch {
                var offset = sample * channels * plane
                for map in maps {
                    defer { offset += map.sampleSize }
                    guard plane > 0, let start = map.values.withUnsafeBufferPointer({ $0.baseAddress }) else {
                        continue
                    }
                    let base = start + sample * map.sampleSize
                    for channel in 0..<map.channels {
                        sources.append((base + channel * plane, offset + channel * plane))
                    }
                }
            }
            output.values.withUnsafeMutableBufferPointer { target in
                let target = target.baseAddress!
                Parallel.forEach(sources.count, threads: threads) { index, _ in
                    let (source, offset) = sources[index]
                    (target + offset).update(from: source, count: plane)
                }
            }
        }
        return output
    }

    /// The elementwise sum of two maps of the same shape (a residual connection).
    static func add(_ a: FeatureMap, _ b: FeatureMap) throws(InferenceError) -> FeatureMap {
        guard a.shape == b.shape else {
            throw InferenceError(message: "cannot add maps of shapes \(a.shape) and \(b.shape)")
        }
        var sum = a
        sum.values.withUnsafeMutableBufferPointer { values in
            b.values.withUnsafeBufferPointer { other in for i in values.indices { values[i] += other[i] } }
        }
        return sum
    }

    /// `map` times a gate broadcast over the channels (a gate of 1 channel and the map's sizes,
    /// as attention gates), over space (a gate of the map's channels and sizes 1, as
    /// squeeze-and-excitation), or elementwise (the same shape).
    static func multiply(_ map: FeatureMap, gate: FeatureMap) throws(InferenceError) -> FeatureMap {
        let (plane, channels) = (map.plane, map.channels)
        var result = map
        let sameBatch = gate.batch == map.batch && gate.spatial.count == map.spatial.count
        if sameBatch && gate.channels == channels && gate.spatial == map.spatial {
            result.values.withUnsafeMutableBufferPointer { values in
                for i in values.indices { values[i] *= gate.values[i] }
            }
        } else if sameBatch && gate.channels == 1 && gate.spatial == map.spatial {
            result.values.withUnsafeMutableBufferPointer { values in
                for index in 0..<(map.batch * channels) {
                    let g = (index / channels) * plane
                    for i in 0..<plane { values[index * plane + i] *= gate.values[g + i] }
                }
            }
        } else if sameBatch && gate.channels == channels && gate.spatial.allSatisfy({ $0 == 1 }) {
            result.values.withUnsafeMutableBufferPointer { values in
                for index in 0..<(map.batch * channels) {
                    let g = gate.values[index]
                    for i in (index * plane)..<((index + 1) * plane) { values[i] *= g }
                }
            }
        } else {
            throw InferenceError(message: "a gate of shape \(gate.shape) does not broadcast to \(map.shape)")
        }
        return result
    }

    /// The mean over the channels at every position (`x.mean(dim=1, keepdim=True)`).
    static func channelMean(_ map: FeatureMap) -> FeatureMap {
        reduceChannels(map) { values, count in values.reduce(0, +) / Float(count) }
    }

    /// The largest value over the channels at every position (`x.amax(dim=1, keepdim=True)`).
    static func channelMax(_ map: FeatureMap) -> FeatureMap {
        reduceChannels(map) { values, _ in values.reduce(-Float.infinity) { $1 > $0 || $1.isNaN ? $1 : $0 } }
    }

    /// The mean of every channel over all positions, as a map of sizes 1 (`AdaptiveAvgPool(1)`).
    static func globalAveragePool(_ map: FeatureMap) -> FeatureMap {
        let plane = map.plane
        let values = (0..<(map.batch * map.channels)).map { index in
            Float(map.values[(index * plane)..<((index + 1) * plane)].reduce(0.0) { $0 + Double($1) } / Double(plane))
        }
        return FeatureMap(
            batch: map.batch, channels: map.channels, spatial: [Int](repeating: 1, count: map.spatial.count),
            values: values)
    }

    private static func reduceChannels(_ map: FeatureMap, _ reduce: ([Float], Int) -> Float) -> FeatureMap {
        let (plane, channels) = (map.plane, map.channels)
        var output = FeatureMap(batch: map.batch, channels: 1, spatial: map.spatial)
        var column = [Float](repeating: 0, count: channels)
        for sample in 0..<map.batch {
            for i in 0..<plane {
                for c in 0..<channels { column[c] = map.values[(sample * channels + c) * plane + i] }
                output.values[sample * plane + i] = reduce(column, channels)
            }
        }
        return output
    }

    private static func checkAxes(_ map: FeatureMap, _ target: [Int], _ verb: String) throws(InferenceError) {
        guard target.count == map.spatial.count else {
            throw InferenceError(message: "cannot \(verb) a map of sizes \(map.spatial) to \(target)")
        }
    }

    /// The `sizes` window of every channel starting at `offsets` (negative: before the map); outside
    /// the map zeros, or with `replicate` the nearest edge value.
    private static func window(_ map: FeatureMap, sizes: [Int], offsets: [Int], replicate: Bool) -> FeatureMap {
        var output = FeatureMap(batch: map.batch, channels: map.channels, spatial: sizes)
        guard output.values.count > 0, map.plane > 0 else { return output }
        let lead = [Int](repeating: 0, count: 3 - sizes.count)
        let inSize = map.spatial3, outSize = output.spatial3, offset = lead + offsets
        let (inPlane, outPlane) = (map.plane, output.plane)
        func source(_ index: Int, _ axis: Int) -> Int? {
            let s = index + offset[axis]
            if replicate { return min(max(s, 0), inSize[axis] - 1) }
            return s >= 0 && s < inSize[axis] ? s : nil
        }
        let columns = (0..<outSize[2]).map { source($0, 2) }
        map.values.withUnsafeBufferPointer { from in
            output.values.withUnsafeMutableBufferPointer { to in
                for plane in 0..<(map.batch * map.channels) {
                    for z in 0..<outSize[0] {
                        guard let sz = source(z, 0) else { continue }
                        for y in 0..<outSize[1] {
                            guard let sy = source(y, 1) else { continue }
                            let line = plane * inPlane + (sz * inSize[1] + sy) * inSize[2]
                            let target = plane * outPlane + (z * outSize[1] + y) * outSize[2]
                            for (x, sx) in columns.enumerated() {
                                if let sx { to[target + x] = from[line + sx] }
                            }
                        }
                    }
                }
            }
        }
        return output
    }
}
