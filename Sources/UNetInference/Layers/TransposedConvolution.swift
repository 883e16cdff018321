import COpenBLAS

/// A k×k transposed convolution with stride k (k = 2 in U-Nets): every input pixel becomes a
/// k×k block, as one GEMM per sample followed by a scatter.
struct TransposedConvolution {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    /// `[inChannels, outChannels × k × k]` (IOHW flattened).
    let weight: [Float]
    let bias: [Float]
    let activation: Activation?

    func callAsFunction(_ input: FeatureMap) -> FeatureMap {
        let k = kernel
        let (height, width) = (input.height, input.width)
        var output = FeatureMap(batch: input.batch, channels: outChannels, height: height * k, width: width * k)
        let rows = outChannels * k * k
        var products = [Float](repeating: 0, count: rows * height * width)
        for sample in 0..<input.batch {
            // products[(o, ky, kx), (y, x)] = Σ_c weight[c, (o, ky, kx)] · input[c, (y, x)]
            input.values.withUnsafeBufferPointer { source in
                weight.withUnsafeBufferPointer { weights in
                    products.withUnsafeMutableBufferPointer { target in
                        cblas_sgemm(
                            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rows), Int32(height * width),
                            Int32(inChannels),
                            1, weights.baseAddress!, Int32(rows), source.baseAddress! + sample * input.sampleSize,
                            Int32(height * width), 0, target.baseAddress!, Int32(height * width))
                    }
                }
            }
            let (outPlane, outWidth) = (output.plane, output.width)
            products.withUnsafeBufferPointer { productValues in
                output.values.withUnsafeMutableBufferPointer { target in
                    for o in 0..<outChannels {
                        let b = bias.isEmpty ? 0 : bias[o]
                        let plane = target.baseAddress! + (sample * outChannels + o) * outPlane
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let block = productValues.baseAddress! + ((o * k + ky) * k + kx) * height * width
                                for y in 0..<height {
                                    let line = plane + (y * k + ky) * outWidth + kx
                                    for x in 0..<width { line[x * k] = block[y * width + x] + b }
                                }
                            }
                        }
                        activation?.apply(UnsafeMutableBufferPointer(start: plane, count: outPlane))
                    }
                }
            }
        }
        return output
    }
}
