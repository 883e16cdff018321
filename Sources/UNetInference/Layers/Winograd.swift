import CUNetKernels
import UNetCheckpoint

/// A 3×3 (or 3×3×3), stride-1 convolution by Winograd's minimal filtering F(4×4, 3×3) (Lavin and
/// Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): every 4×4 output tile is
/// computed from a 6×6 input tile with 36 multiplications per channel pair instead of 144. In the
/// transformed domain the convolution is 36 independent matrix products, `M[ξ] = U[ξ] · V[ξ]`,
/// which run on OpenBLAS over blocks of tiles small enough to stay in cache, one block per thread
/// at a time; the transforms are C (CUNetKernels), compiled for AVX-512, AVX2 and baseline x86-64
/// and chosen for the CPU at run time.
///
/// A 3×3×3 kernel is three 3×3 kernels, one per input plane in depth: an output plane is the sum
/// of three products, one per input plane it reads. A block walks a run of output planes with
/// the transformed input of the last three input planes in a ring, so every input plane is
/// transformed once per run instead of three times.
struct WinogradKernel: Sendable {
    let inChannels: Int
    let outChannels: Int
    /// The kernel's depth: 1 for a 2-D 3×3 kernel, 3 for 3×3×3.
    let depth: Int
    /// `G g Gᵀ` for every (out, in, depth) triple, stored as 36 row-major matrices
    /// `[outChannels, depth × inChannels]` (column `kz × inChannels + c`), one per position ξ.
    let transformed: [Float]

    /// The inner dimension of the products when every plane in depth is inside the input.
    var rowLength: Int { depth * inChannels }

    /// Transforms OI[D]HW 3×3 or 3×3×3 weights.
    init(weight: [Float], outChannels: Int, inChannels: Int, depth: Int = 1) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.depth = depth
        let row = depth * inChannels
        let transformed = [Float](unsafeUninitializedCapacity: 36 * outChannels * row) { u, initialized in
            weight.withUnsafeBufferPointer { w in
                let (w, u) = (w.baseAddress!, u.baseAddress!)
                // Output channels in chunks across the cores (a checkpoint's weights are hundreds of MB here).
                let chunk = 16
                Parallel.forEach((outChannels + chunk - 1) / chunk, threads: Parallel.cores) { part, _ in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 27 * row)
                    defer { scratch.deallocate() }
                    unet_winograd4_weights(
                        w, outChannels, inChannels, depth, part * chunk, min(outChannels, part * chunk + chunk), u,
                        scratch)
                }
            }
            initialized = 36 * outChannels * row
        }
        self.transformed = transformed
    }

    /// The geometry of one call: the input's sizes and padding before, the output's sizes (depth 1
    /// and no depth padding for a 2-D map).
    struct Geometry {
        let height: Int, width: Int
        let padTop: Int, padLeft: Int
        let outHeight: Int, outWidth: Int
        var inDepth = 1, padFront = 0, outDepth = 1
        var tilesX: Int { (outWidth + 3) / 4 }
        var tileCount: Int { ((outHeight + 3) / 4) * tilesX }
    }

    /// Whether the plane has enough tiles for the products to pay (below, they are too thin and
    /// the im2col GEMM is faster).
    static func pays(_ geometry: Geometry) -> Bool { geometry.tileCount >= 9 }

    /// Tiles per block: the transformed input and products of a block take about 4 MiB, a block
    /// has at least 32 tiles, and there are blocks enough for every thread.
    func tilesPerBlock(_ geometry: Geometry, threads: Int) -> Int {
        let fitting = max(32, (1 << 20) / (36 * (rowLength + outChannels)))
        let perPlane = max(1, threads / max(1, geometry.outDepth))
        let balanced = (geometry.tileCount + perPlane - 1) / perPlane
        return max(1, min(fitting, balanced))
    }

    /// Convolves one sample: `input` is `[inChannels, (inDepth,) height, width]`, `output`
    /// `[outChannels, (outDepth,) outHeight, outWidth]`; `bias` (one per output channel) and a
    /// ReLU or LeakyReLU are applied on the way out (any other activation afterwards).
    func convolve(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, geometry g: Geometry, bias: [Float],
        activation: Activation?, threads: Int
    ) {
        let blockTiles = tilesPerBlock(g, threads: depth == 3 ? 1 : threads)
        let blocksPerPlane = (g.tileCount + blockTiles - 1) / blockTiles
        // Runs of output planes: two per thread at least, so the threads stay busy to the end.
        let runs = min(g.outDepth, max(1, (2 * threads + blocksPerPlane - 1) / blocksPerPlane))
        let planesPerRun = (g.outDepth + runs - 1) / runs
        let items = blocksPerPlane * ((g.outDepth + planesPerRun - 1) / planesPerRun)
        let workers = max(1, min(threads, items))
        let planeTiles = 36 * inChannels * blockTiles
        let kernelScratch = unet_winograd4_scratch(blockTiles)
        let scratchSize = depth * planeTiles + 36 * outChannels * blockTiles + kernelScratch
        var scratch = [Float](repeating: 0, count: workers * scratchSize)
        let (activate, slope): (Int32, Float) =
            switch activation {
            case .relu: (1, 0)
            case .leakyReLU(let slope): (1, slope)
            default: (0, 1)
            }
        let (inPlane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        let matrix = outChannels * rowLength
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            transformed.withUnsafeBufferPointer { kernel in
                bias.withUnsafeBufferPointer { bias in
                    let (scratch, kernel, bias) = (scratchBuffer.baseAddress!, kernel.baseAddress!, bias.baseAddress!)
                    Parallel.forEach(items, threads: workers) { item, worker in
                        let (run, block) = item.quotientAndRemainder(dividingBy: blocksPerPlane)
                        let first = block * blockTiles
                        let count = min(blockTiles, g.tileCount - first)
                        let ring = scratch + worker * scratchSize
                        let products = ring + depth * planeTiles
                        let kernelScratch = products + 36 * outChannels * blockTiles
                        /// The transformed tiles of input plane `z` (its slot in the ring).
                        func tiles(_ z: Int) -> UnsafeMutablePointer<Float> { ring + (z % depth) * planeTiles }
                        var transformedThrough = Int.min
                        for z in (run * planesPerRun)..<min(g.outDepth, (run + 1) * planesPerRun) {
                            // The input planes this output plane reads that are inside the map.
                            let planes = max(0, z - g.padFront)..<min(g.inDepth, z - g.padFront + depth)
                            for source in planes where source > transformedThrough {
                                unet_winograd4_input(
                                    input + source * inPlane, inChannels, g.inDepth * inPlane, g.height, g.width,
                                    g.padTop, g.padLeft, g.tilesX, first, count, tiles(source), inChannels * count,
                                    count, kernelScratch)
                                transformedThrough = source
                            }
                            if planes.isEmpty { products.update(repeating: 0, count: 36 * outChannels * count) }
                            for position in 0..<36 {
                                for source in planes {
                                    let kz = source - (z - g.padFront)
                                    BLAS.multiply(
                                        m: outChannels, n: count, k: inChannels,
                                        kernel + position * matrix + kz * inChannels, lda: rowLength,
                                        tiles(source) + position * inChannels * count, ldb: count,
                                        into: products + position * outChannels * count, ldc: count,
                                        accumulate: source != planes.lowerBound)
                                }
                            }
                            unet_winograd4_output(
                                products, outChannels, outChannels * count, count, g.outHeight, g.outWidth, g.tilesX,
                                first, count, bias, activate, slope, output + z * outPlane, g.outDepth * outPlane,
                                kernelScratch)
                        }
                    }
                }
            }
        }
        if activate == 0, let activation {
            let total = outChannels * g.outDepth * outPlane
            activation.apply(UnsafeMutableBufferPointer(start: output, count: total))
        }
    }
}
