/// Upsampling by an integer factor per spatial axis with PyTorch's `F.interpolate(scale_factor:)`
/// arithmetic, over 1, 2 or 3 spatial axes.
///
/// - `nearest` (PyTorch's 'nearest', not 'nearest-exact'): output `i` takes input `⌊i / s⌋`.
/// - `linear` (linear, bilinear, trilinear): with `alignCorners` the source of `i` is
///   `i·(in − 1)/(out − 1)`; without, `(i + ½)/s − ½` clamped at 0. The two nearest inputs are
///   mixed with weights `1 − λ` and `λ` on each axis.
///
/// Precondition (a caller mistake): one positive factor per spatial axis.
enum Interpolation: Sendable {
    /// How an output value is taken from the input.
    enum Mode: Sendable, Equatable {
        case nearest
        case linear(alignCorners: Bool)
    }

    /// The map upsampled by `scale` (one factor per spatial axis).
    static func upsample(_ input: FeatureMap, scale: [Int], mode: Mode) -> FeatureMap {
        precondition(scale.count == input.spatial.count && scale.allSatisfy { $0 >= 1 }, "one factor per axis")
        var map = input
        // Axis by axis, the last first (the result is the same tensor product of the weights).
        for axis in stride(from: scale.count - 1, through: 0, by: -1) where scale[axis] > 1 {
            map = resample(map, axis: axis, factor: scale[axis], mode: mode)
        }
        return map
    }

    /// The two source indices and the weight of the second, for every output index of one axis.
    static func taps(input: Int, factor: Int, mode: Mode) -> [(low: Int, high: Int, lambda: Float)] {
        let output = input * factor
        return (0..<output).map { index in
            switch mode {
            case .nearest:
                let source = min(index / factor, input - 1)
                return (source, source, 0)
            case .linear(let alignCorners):
                let source: Float
                if alignCorners {
                    let scale: Float = output > 1 ? Float(input - 1) / Float(output - 1) : 0
                    source = scale * Float(index)
                } else {
                    let scale = Float(1.0 / Double(factor))
                    source = max(0, scale * (Float(index) + 0.5) - 0.5)
                }
                let low = min(Int(source), input - 1)
                let high = low < input - 1 ? low + 1 : low
                return (low, high, min(max(source - Float(low), 0), 1))
            }
        }
    }

    /// Upsamples one axis.
    private static func resample(_ input: FeatureMap, axis: Int, factor: Int, mode: Mode) -> FeatureMap {
        var spatial = input.spatial
        let size = spatial[axis]
        spatial[axis] *= factor
        var output = FeatureMap(batch: input.batch, channels: input.channels, spatial: spatial)
        let inner = input.spatial[(axis + 1)...].reduce(1, *)
        let outer = input.batch * input.channels * input.spatial[..<axis].reduce(1, *)
        let taps = taps(input: size, factor: factor, mode: mode)
        input.values.withUnsafeBufferPointer { source in
            output.values.withUnsafeMutableBufferPointer { target in
                for block in 0..<outer {
                    let from = source.baseAddress! + block * size * inner
                    var to = target.baseAddress! + block * taps.count * inner
                    for tap in taps {
                        let (low, high) = (from + tap.low * inner, from + tap.high * inner)
                        let (w0, w1) = (1 - tap.lambda, tap.lambda)
                        if w1 == 0 {
                            to.update(from: low, count: inner)
                        } else {
                            for i in 0..<inner { to[i] = w0 * low[i] + w1 * high[i] }
                        }
                        to += inner
                    }
                }
            }
        }
        return output
    }
}
