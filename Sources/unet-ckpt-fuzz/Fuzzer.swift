import Foundation
import UNetCheckpoint
@_spi(Fuzzing) import UNetFormats
import UNetImages
import UNetInference

/// A mutation fuzzer for every parser of untrusted input: the pickle reader, safetensors headers,
/// PyTorch zips, `.npy` arrays, mapping files, BioImage Model Zoo `rdf.yaml` files, PNG and TIFF
/// images through libpng and libtiff, NIfTI volumes through libnifti (all in this process) and
/// HDF5 files (through the supervised `unet-ckpt`, since libhdf5 is C). See docs/robustness.md.
///
///     swift run -c release unet-ckpt-fuzz [--cases N] [--seed S] [--format NAME] [--corpus DIR] [--list]
///
/// A seed reproduces a run exactly: the same cases in the same order, in any process (`--list`
/// prints each case's size and CRC-32 instead of running it).
@main
struct Fuzzer {
    enum Format: String, CaseIterable {
        case pickle, safetensors, zip, npy, mapping, rdf, png, tiff, nii, hdf5
    }

    struct Tally {
        var accepted = 0, refused = 0, contained = 0, slowest = 0.0
    }

    static func main() throws {
        var cases = 10_000, seed: UInt64 = 1, formats = Format.allCases
        var corpus = "fixtures/fuzz"
        var list = false
        var arguments = Array(CommandLine.arguments.dropFirst())
        while !arguments.isEmpty {
            let flag = arguments.removeFirst()
            if flag == "--list" {
                list = true
                continue
            }
            guard let value = arguments.first else { fail("\(flag) needs a value") }
            arguments.removeFirst()
            switch flag {
            case "--cases": cases = Int(value) ?? cases
            case "--seed": seed = UInt64(value) ?? seed
            case "--format": formats = value.split(separator: ",").compactMap { Format(rawValue: String($0)) }
            case "--corpus": corpus = value
            default: fail("unknown option \(flag)")
            }
        }
        if list {
            for format in formats {
                for (index, input) in try Self.cases(format, count: cases, seed: seed, corpus: corpus).enumerated() {
                    let crc = input.withUnsafeBytes { CRC32.checksum($0) }
                    print("\(format.rawValue) \(index) \(input.count) \(String(crc, radix: 16))")
                }
            }
            return
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("unet-ckpt-fuzz-\(getpid())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        print("each case is written to \(scratch)/case.* before it runs: after a crash it is the input to keep")
        var failed = false
        for format in formats {
            var tally = Tally()
            let path = "\(scratch)/case.\(format.rawValue)"
            let start = Date()
            for (index, input) in try Self.cases(format, count: cases, seed: seed, corpus: corpus).enumerated() {
                _ = FileManager.default.createFile(atPath: path, contents: Data(input))
                let began = Date()
                let outcome = run(format, input: input, path: path)
                let seconds = Date().timeIntervalSince(began)
                tally.slowest = max(tally.slowest, seconds)
                switch outcome {
                case .accepted: tally.accepted += 1
                case .refused: tally.refused += 1
                case .contained:
                    tally.contained += 1
                    try? FileManager.default.removeItem(atPath: path + ".contained")
                    try? FileManager.default.copyItem(atPath: path, toPath: path + ".contained")
                }
                // libhdf5's own loops are stopped by the supervisor at 5 s: contained, not ours.
                if seconds > 5 && outcome != .contained {
                    print("HANG: \(format.rawValue) case \(index) took \(seconds) s (kept at \(path).hang-\(index))")
                    try? FileManager.default.copyItem(atPath: path, toPath: "\(path).hang-\(index)")
                    failed = true
                }
            }
            let name = format.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
            print(
                name
                    + String(
                        format:
                            "%6d cases in %6.1f s: %6d accepted, %6d refused with an error, %4d libhdf5 crashes or hangs contained; slowest case %.3f s",
                        cases, Date().timeIntervalSince(start), tally.accepted, tally.refused, tally.contained,
                        tally.slowest))
        }
        try? FileManager.default.removeItem(atPath: scratch)
        if failed { exit(1) }
        print("no crash, no hang over 5 s")
    }

    /// The cases of one format, in order: mutations of the corpus's files (in name order) drawn
    /// from `seed` and the format's name alone, so that a seed gives the same cases in any process.
    struct Cases: Sequence, IteratorProtocol {
        let seeds: [[UInt8]]
        let count: Int
        var random: Random
        var index = 0

        mutating func next() -> [UInt8]? {
            guard index < count else { return nil }
            defer { index += 1 }
            return Mutator.mutate(seeds[index % seeds.count], seeds: seeds, random: &random)
        }
    }

    static func cases(_ format: Format, count: Int, seed: UInt64, corpus: String) throws -> Cases {
        let seeds = try FileManager.default.contentsOfDirectory(atPath: "\(corpus)/\(format.rawValue)").sorted()
            .map { [UInt8](FileManager.default.contents(atPath: "\(corpus)/\(format.rawValue)/\($0)")!) }
        guard !seeds.isEmpty else { fail("no seeds in \(corpus)/\(format.rawValue)") }
        // FNV-1a of the name: unlike hashValue, the same in every process.
        let code = format.rawValue.utf8.reduce(0xCBF2_9CE4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
        return Cases(seeds: seeds, count: count, random: Random(seed: seed &+ code))
    }

    enum Outcome { case accepted, refused, contained }

    static func run(_ format: Format, input: [UInt8], path: String) -> Outcome {
        switch format {
        case .pickle: return FuzzTargets.pickle(input) ? .accepted : .refused
        case .safetensors: return FuzzTargets.safetensors(path) ? .accepted : .refused
        case .zip: return FuzzTargets.pytorch(path) ? .accepted : .refused
        case .npy: return (try? NumpyArray(contentsOf: path)) != nil ? .accepted : .refused
        case .mapping: return FuzzTargets.mapping(Data(input)) ? .accepted : .refused
        case .rdf: return FuzzTargets.bioimageio(Data(input)) ? .accepted : .refused
        case .png, .tiff: return (try? PixelImage(contentsOf: path)) != nil ? .accepted : .refused
        case .nii: return (try? NIfTIFile.read(path, order: .zyx)) != nil ? .accepted : .refused
        case .hdf5: return inspectInChild(path)
        }
    }

    /// `unet-ckpt inspect --stats` on the file, supervised with a 5 s limit. The supervisor turns
    /// a crash or hang of libhdf5 into exit 2 with a message; anything else dying is a bug.
    static func inspectInChild(_ path: String) -> Outcome {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("unet-ckpt")
        let process = Process()
        process.executableURL = executable
        process.arguments = ["inspect", "--stats", "--json", path]
        process.environment = ProcessInfo.processInfo.environment.merging(["UNET_CKPT_TIMEOUT": "5"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch {
            fail("cannot run \(executable.path): build it first (swift build -c release)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationReason == .uncaughtSignal {
            print("CRASH of unet-ckpt itself (signal \(process.terminationStatus)) on \(path)")
            exit(1)
        }
        if message.contains("crashed the reader") || message.contains("ran longer than") { return .contained }
        return process.terminationStatus == 0 || process.terminationStatus == 1 ? .accepted : .refused
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("unet-ckpt-fuzz: \(message)\n".utf8))
        exit(2)
    }
}

/// The seeded generator of every run.
typealias Random = SplitMix64

/// Byte-level mutations: flips, interesting values, inserts, deletions, truncation, duplication
/// and splices with another seed, one to four per case.
enum Mutator {
    static let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x40, 0x20]

    static func mutate(_ seed: [UInt8], seeds: [[UInt8]], random: inout Random) -> [UInt8] {
        var bytes = seed
        for _ in 0...random.below(4) {
            guard !bytes.isEmpty else { bytes = [UInt8(truncatingIfNeeded: random.next())]; continue }
            let at = random.below(bytes.count)
            switch random.below(8) {
            case 0: bytes[at] ^= UInt8(1 << random.below(8))
            case 1: bytes[at] = interesting[random.below(interesting.count)]
            case 2: bytes[at] = UInt8(truncatingIfNeeded: random.next())
            case 3:
                bytes.insert(
                    contentsOf: (0...random.below(8)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: at)
            case 4: bytes.removeSubrange(at..<min(bytes.count, at + 1 + random.below(16)))
            case 5: bytes.removeSubrange(random.below(bytes.count)...)  // truncate
            case 6:
                let end = min(bytes.count, at + 1 + random.below(32))
                bytes.insert(contentsOf: bytes[at..<end], at: random.below(bytes.count))
            default:
                let other = seeds[random.below(seeds.count)]
                guard !other.isEmpty else { continue }
                let from = random.below(other.count)
                let piece = other[from..<min(other.count, from + 1 + random.below(64))]
                let to = random.below(bytes.count)
                bytes.replaceSubrange(to..<min(bytes.count, to + piece.count), with: piece)
            }
        }
        return bytes
    }
}
