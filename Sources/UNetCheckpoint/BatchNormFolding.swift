extension Checkpoint {
    /// The float32 weight (OIHW, flattened) and bias of the convolution `convolution` (such as
    /// `encoder.0.conv1`) with the BatchNorm `norm` after it folded in:
    /// `(x − mean) / sqrt(var + eps) · gamma + beta` becomes `weight · s` and `(bias − mean) · s + beta`
    /// with `s = gamma / sqrt(var + eps)`, computed in float32 (a missing bias counts as zeros).
    /// The inference core and the ONNX export both fold with this, so their weights are the same bits.
    public func batchNormFolded(convolution: String, norm: String, eps: Double) -> (weight: [Float], bias: [Float]) {
        func values(_ key: String) -> [Float] { tensors[key]?.floatValues() ?? [] }
        var weight = values("\(convolution).weight")
        var bias = values("\(convolution).bias")
        let gamma = values("\(norm).weight"), beta = values("\(norm).bias")
        let mean = values("\(norm).running_mean"), variance = values("\(norm).running_var")
        let eps = Float(eps)
        let output = gamma.count
        if bias.isEmpty { bias = [Float](repeating: 0, count: output) }
        let perChannel = weight.count / max(output, 1)
        for o in 0..<output {
            let scale = gamma[o] / (variance[o] + eps).squareRoot()
            for i in 0..<perChannel { weight[o * perChannel + i] *= scale }
            bias[o] = (bias[o] - mean[o]) * scale + beta[o]
        }
        return (weight, bias)
    }
}
