import UNetCheckpoint

/// A k×k transposed convolution with stride k (k = 2 in U-Nets): every input pixel becomes a
/// k×k block, as one GEMM per sample followed by a scatter.
struct TransposedConvolution: Sendable {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    /// `[inChannels, outChannels × k × k]` (IOHW flattened).
    let weight: [Float]
    let bias: [Float]
    let activation: Activation?

    func callAsFunction(_ input: FeatureMap, threads: Int) -> FeatureMap {
        let k = kernel
        let (height, width) = (input.height, input.width)
        let pixels = height * width
        var output = FeatureMap(batch: input.batch, channels: outChannels, height: height * k, width: width * k)
        let rows = outChannels * k * k
        var products = [Float](repeating: 0, count: rows * pixels)
        // Columns split so each thread multiplies a part: products[(o, ky, kx), (y, x)] =
        // Σ_c weight[c, (o, ky, kx)] · input[c, (y, x)].
        let chunk = max(64, (pixels + threads - 1) / threads)
        let chunks = (pixels + chunk - 1) / chunk
        let (outPlane, outWidth) = (output.plane, output.width)
        for sample in 0..<input.batch {
            input.values.withUnsafeBufferPointer { source in
                weight.withUnsafeBufferPointer { weights in
                    products.withUnsafeMutableBufferPointer { target in
                        let (source, weights, target) = (
                            source.baseAddress! + sample * input.sampleSize, weights.baseAddress!, target.baseAddress!
                        )
                        Parallel.forEach(chunks, threads: threads) { index, _ in
                            let first = index * chunk
                            let columns = min(chunk, pixels - first)
                            BLAS.multiply(
                                transposeA: true, m: rows, n: columns, k: inChannels, weights, lda: rows,
                                source + first, ldb: pixels, into: target + first, ldc: pixels)
                        }
                    }
                }
            }
            products.withUnsafeBufferPointer { productValues in
                output.values.withUnsafeMutableBufferPointer { target in
                    let (productValues, target) = (productValues.baseAddress!, target.baseAddress!)
                    Parallel.forEach(outChannels, threads: threads) { o, _ in
                        let b = bias.isEmpty ? 0 : bias[o]
                        let plane = target + (sample * outChannels + o) * outPlane
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let block = productValues + ((o * k + ky) * k + kx) * pixels
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
