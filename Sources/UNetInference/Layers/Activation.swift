import CUNetKernels
import Foundation

/// An element-wise activation, with PyTorch's definitions.
enum Activation: Sendable, Equatable {
    /// `max(x, 0)`.
    case relu
    /// `x` for `x ≥ 0`, `slope · x` below.
    case leakyReLU(Float)
    /// `x` for `x > 0`, `alpha · (eˣ − 1)` otherwise.
    case elu(Float)
    /// `x · Φ(x)` with the exact normal CDF: `x / 2 · (1 + erf(x / √2))` (`approximate='none'`).
    case gelu
    /// `x / 2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))` (`approximate='tanh'`).
    case geluTanh
    /// `x · σ(x)` (also called swish).
    case silu
    /// `1 / (1 + e⁻ˣ)`.
    case sigmoid
    /// The hyperbolic tangent.
    case tanh
    /// `min(max(x, 0), 6)`.
    case relu6

    @inline(__always)
    func apply(_ value: Float) -> Float {
        switch self {
        case .relu: return max(value, 0)
        case .leakyReLU(let slope): return value < 0 ? value * slope : value
        case .elu(let alpha): return value > 0 ? value : alpha * expm1f(value)
        case .gelu: return 0.5 * value * (1 + erff(value * 0.707_106_781_186_547_524_40))
        case .geluTanh:
            let inner = 0.797_884_560_802_865_355_88 * (value + 0.044715 * value * value * value)
            return 0.5 * value * (1 + tanhf(inner))
        case .silu: return value / (1 + expf(-value))
        case .sigmoid: return 1 / (1 + expf(-value))
        case .tanh: return tanhf(value)
        case .relu6: return min(max(value, 0), 6)
        }
    }

    @inline(__always)
    func apply(_ values: SIMD4<Float>) -> SIMD4<Float> {
        switch self {
        case .relu: return values.replacing(with: 0, where: values .< 0)
        case .leakyReLU(let slope): return values.replacing(with: values * slope, where: values .< 0)
        case .relu6: return values.clamped(lowerBound: SIMD4(repeating: 0), upperBound: SIMD4(repeating: 6))
        default: return SIMD4(apply(values[0]), apply(values[1]), apply(values[2]), apply(values[3]))
        }
    }

    /// Applies the activation to every value, in place.
    func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .relu: unet_leaky(values.baseAddress, values.count, 0)
        case .leakyReLU(let slope): unet_leaky(values.baseAddress, values.count, slope)
        default: for i in values.indices { values[i] = apply(values[i]) }
        }
    }

    /// Applies the activation to every value of a map, in place.
    func apply(_ map: inout FeatureMap) {
        map.values.withUnsafeMutableBufferPointer { apply($0) }
    }
}

/// Activations that need more than the value: PReLU's per-channel weight and the softmax over
/// channels.
enum Activations: Sendable {
    /// PReLU: `x` for `x ≥ 0`, `a · x` below, with one `a` for every channel or one per channel.
    /// Precondition (a caller mistake): `weight` holds 1 or `map.channels` values.
    static func prelu(_ map: inout FeatureMap, weight: [Float]) {
        precondition(weight.count == 1 || weight.count == map.channels, "PReLU takes 1 or one weight per channel")
        let (plane, channels) = (map.plane, map.channels)
        map.values.withUnsafeMutableBufferPointer { values in
            for index in 0..<(map.batch * channels) {
                let slope = weight.count == 1 ? weight[0] : weight[index % channels]
                for i in (index * plane)..<((index + 1) * plane) where values[i] < 0 { values[i] *= slope }
            }
        }
    }

    /// Softmax over the channels at every position of a map of any dimension, in place.
    static func softmax(_ map: inout FeatureMap) {
        let (n, channels) = (map.plane, map.channels)
        let sampleSize = map.sampleSize
        map.values.withUnsafeMutableBufferPointer { values in
            for sample in 0..<map.batch {
                let base = sample * sampleSize
                for i in 0..<n {
                    var largest = -Float.infinity
                    for c in 0..<channels { largest = max(largest, values[base + c * n + i]) }
                    var total: Float = 0
                    for c in 0..<channels {
                        let e = expf(values[base + c * n + i] - largest)
                        values[base + c * n + i] = e
                        total += e
                    }
                    for c in 0..<channels { values[base + c * n + i] /= total }
                }
            }
        }
    }
}
