import Foundation

/// The 2-D layers without weights of the schema-1 networks (2×2 max-pool, ×2 upsampling, instance
/// norm, crop, pad, two-way concatenation, softmax). Their N-D generalisations are ``Pooling``,
/// ``Interpolation``, ``Normalization``, ``Merging`` and ``Activations``.
enum Resampling {
    /// 2×2 max-pooling with stride 2; odd sizes drop the last row or column (PyTorch's floor).
    static func maxPool2(_ input: FeatureMap) -> FeatureMap {
        let (h, w) = (input.height / 2, input.width / 2)
        var output = FeatureMap(batch: input.batch, channels: input.channels, height: h, width: w)
        for plane in 0..<(input.batch * input.channels) {
            let source = plane * input.plane
            let target = plane * h * w
            for y in 0..<h {
                let top = source + 2 * y * input.width
                let bottom = top + input.width
                for x in 0..<w {
                    output.values[target + y * w + x] = max(
                        max(input.values[top + 2 * x], input.values[top + 2 * x + 1]),
                        max(input.values[bottom + 2 * x], input.values[bottom + 2 * x + 1]))
                }
            }
        }
        return output
    }

    /// Nearest-neighbour ×2.
    static func nearest2(_ input: FeatureMap) -> FeatureMap {
        let (h, w) = (input.height * 2, input.width * 2)
        var output = FeatureMap(batch: input.batch, channels: input.channels, height: h, width: w)
        for plane in 0..<(input.batch * input.channels) {
            for y in 0..<h {
                let source = plane * input.plane + (y / 2) * input.width
                let target = plane * h * w + y * w
                for x in 0..<w { output.values[target + x] = input.values[source + x / 2] }
            }
        }
        return output
    }

    /// Bilinear ×2 with PyTorch's coordinate rule for `align_corners`.
    static func bilinear2(_ input: FeatureMap, alignCorners: Bool) -> FeatureMap {
        let (h, w) = (input.height * 2, input.width * 2)
        var output = FeatureMap(batch: input.batch, channels: input.channels, height: h, width: w)
        func taps(_ outSize: Int, _ inSize: Int) -> [(Int, Int, Float)] {
            (0..<outSize).map { index in
                var source: Float
                if alignCorners {
                    source = outSize > 1 ? Float(index) * Float(inSize - 1) / Float(outSize - 1) : 0
                } else {
                    source = max(0, (Float(index) + 0.5) * Float(inSize) / Float(outSize) - 0.5)
                }
                let low = min(Int(source), inSize - 1)
                let high = min(low + 1, inSize - 1)
                return (low, high, source - Float(low))
            }
        }
        let rows = taps(h, input.height), columns = taps(w, input.width)
        for plane in 0..<(input.batch * input.channels) {
            let source = plane * input.plane
            for (y, row) in rows.enumerated() {
                let top = source + row.0 * input.width, bottom = source + row.1 * input.width
                for (x, column) in columns.enumerated() {
                    let a = input.values[top + column.0] * (1 - column.2) + input.values[top + column.1] * column.2
                    let b =
                        input.values[bottom + column.0] * (1 - column.2) + input.values[bottom + column.1] * column.2
                    output.values[plane * h * w + y * w + x] = a * (1 - row.2) + b * row.2
                }
            }
        }
        return output
    }

    /// Instance normalisation per sample and channel (biased variance), with optional scale and shift.
    static func instanceNorm(_ map: inout FeatureMap, eps: Float, weight: [Float], bias: [Float]) {
        Normalization.instanceNorm(&map, eps: eps, weight: weight, bias: bias)
    }

    /// Crops every plane to `height × width` starting at (`top`, `left`).
    static func crop(_ input: FeatureMap, top: Int, left: Int, height: Int, width: Int) -> FeatureMap {
        var output = FeatureMap(batch: input.batch, channels: input.channels, height: height, width: width)
        for plane in 0..<(input.batch * input.channels) {
            for y in 0..<height {
                let source = plane * input.plane + (y + top) * input.width + left
                output.values.replaceSubrange(
                    (plane * height * width + y * width)..<(plane * height * width + (y + 1) * width),
                    with: input.values[source..<(source + width)])
            }
        }
        return output
    }

    /// Pads every plane to `height × width`, `top`/`left` before; zeros, or the edge value repeated.
    static func pad(_ input: FeatureMap, height: Int, width: Int, top: Int, left: Int, replicate: Bool) -> FeatureMap {
        var output = FeatureMap(batch: input.batch, channels: input.channels, height: height, width: width)
        for plane in 0..<(input.batch * input.channels) {
            for y in 0..<height {
                var sy = y - top
                if replicate {
                    sy = min(max(sy, 0), input.height - 1)
                } else if sy < 0 || sy >= input.height {
                    continue
                }
                for x in 0..<width {
                    var sx = x - left
                    if replicate {
                        sx = min(max(sx, 0), input.width - 1)
                    } else if sx < 0 || sx >= input.width {
                        continue
                    }
                    output.values[plane * height * width + y * width + x] =
                        input.values[plane * input.plane + sy * input.width + sx]
                }
            }
        }
        return output
    }

    /// Joins two maps of equal spatial size along the channels, `first` first.
    static func concatenate(_ first: FeatureMap, _ second: FeatureMap) -> FeatureMap {
        var output = FeatureMap(
            batch: first.batch, channels: first.channels + second.channels, height: first.height, width: first.width)
        output.values.removeAll(keepingCapacity: true)
        for sample in 0..<first.batch {
            output.values += first.values[(sample * first.sampleSize)..<((sample + 1) * first.sampleSize)]
            output.values += second.values[(sample * second.sampleSize)..<((sample + 1) * second.sampleSize)]
        }
        return output
    }

    /// Softmax over the channels at every position (any dimension).
    static func softmax(_ map: inout FeatureMap) { Activations.softmax(&map) }
}
