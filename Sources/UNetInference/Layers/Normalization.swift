import CUNetKernels
import Foundation
import UNetCheckpoint

/// Normalisations over maps of 1, 2 or 3 spatial axes, in place, with PyTorch's arithmetic (biased
/// variance; statistics accumulated in double precision). An empty `weight` or `bias` means no
/// affine scale or shift. Preconditions (caller mistakes, checked when the weights are loaded):
/// `weight` and `bias` are empty or hold one value per channel, the statistics hold one per
/// channel, and `groups` divides the channels.
enum Normalization: Sendable {
    /// Batch normalisation from running statistics (`eval()` mode), for when it cannot be folded
    /// into the convolution before: `(x − mean) / √(variance + eps) · weight + bias`.
    static func batchNorm(
        _ map: inout FeatureMap, mean: [Float], variance: [Float], weight: [Float], bias: [Float], eps: Float
    ) {
        let channels = map.channels
        precondition(mean.count == channels && variance.count == channels, "one statistic per channel")
        checkAffine(weight, bias, channels)
        let scales = (0..<channels).map { c in (weight.isEmpty ? 1 : weight[c]) / (variance[c] + eps).squareRoot() }
        let shifts = (0..<channels).map { c in (bias.isEmpty ? 0 : bias[c]) - mean[c] * scales[c] }
        let plane = map.plane
        map.values.withUnsafeMutableBufferPointer { values in
            for index in 0..<(map.batch * channels) {
                let (scale, shift) = (scales[index % channels], shifts[index % channels])
                for i in (index * plane)..<((index + 1) * plane) { values[i] = values[i] * scale + shift }
            }
        }
    }

    /// Instance normalisation: per sample and channel over all spatial positions.
    static func instanceNorm(_ map: inout FeatureMap, eps: Float, weight: [Float], bias: [Float]) {
        groupNorm(&map, groups: map.channels, eps: eps, weight: weight, bias: bias)
    }

    /// Group normalisation: per sample over each group of `channels / groups` consecutive channels
    /// and all spatial positions, then a scale and shift per channel, and a ReLU or LeakyReLU
    /// (`activation`, fused by the model when it alone reads the norm). Groups run on `threads`
    /// threads.
    static func groupNorm(
        _ map: inout FeatureMap, groups: Int, eps: Float, weight: [Float], bias: [Float], activation: Activation? = nil,
        threads: Int = 1
    ) {
        let channels = map.channels
        precondition(groups >= 1 && channels % groups == 0, "groups must divide the channels")
        checkAffine(weight, bias, channels)
        let perGroup = channels / groups
        let plane = map.plane
        let count = perGroup * plane
        guard count > 0 else { return }
        let (activate, slope): (Int32, Float) =
            switch activation {
            case .relu: (1, 0)
            case .leakyReLU(let slope): (1, slope)
            default: (0, 1)
            }
        map.values.withUnsafeMutableBufferPointer { values in
            let values = values.baseAddress!
            Parallel.forEach(map.batch * groups, threads: threads) { group, _ in
                let base = values + group * count
                let mean = unet_sum(base, count) / Double(count)
                let squares = unet_squared_deviations(base, count, mean)
                let inverse = 1 / (squares / Double(count) + Double(eps)).squareRoot()
                for member in 0..<perGroup {
                    let channel = (group % groups) * perGroup + member
                    let scale = Float(inverse * Double(weight.isEmpty ? 1 : weight[channel]))
                    let shift = (bias.isEmpty ? 0 : bias[channel]) - Float(mean) * scale
                    unet_scale_shift(base + member * plane, plane, scale, shift, activate, slope)
                }
            }
        }
        if activate == 0, let activation { activation.apply(&map) }
    }

    private static func checkAffine(_ weight: [Float], _ bias: [Float], _ channels: Int) {
        precondition(weight.isEmpty || weight.count == channels, "one weight per channel")
        precondition(bias.isEmpty || bias.count == channels, "one bias per channel")
    }
}
