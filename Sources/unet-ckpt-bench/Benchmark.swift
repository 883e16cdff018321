import ArgumentParser
import Foundation
import UNetCheckpoint
import UNetInference

/// `unet-ckpt-bench`: our speed against the peers a user has today, measured in the same run.
/// See docs/performance.md.
@main
struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet-ckpt-bench",
        abstract:
            "Measure unet-ckpt against h5py, torch, onnxruntime and OpenVINO on the same inputs, in the same run.",
        subcommands: [Compare.self, MeasureProcess.self], defaultSubcommand: Compare.self)
}

/// The benchmark proper: every case, ours and the peer's, and the table.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the cases and print the table (the default).",
        discussion: """
            Inputs are made at run time in a scratch folder: the paper's U-Net (31M float32 values, \
            124 MB), milesial/Pytorch-UNet at full size saved by torch and, for forward-3d, a 3-D \
            nnU-Net PlainConvUNet made by dynamic-network-architectures in the peers' process. Every \
            case runs once untimed, then --runs times; the table shows medians and ours/peer ratios.
            """)

    static let allCases = ["read", "write", "convert", "inspect", "forward", "forward-3d", "sliding-3d"]

    @Option(help: "Timed runs per case (after one warm-up).")
    var runs = 5

    @Option(help: "The Python with the peers (Sources/unet-ckpt-bench/requirements.txt); 'none' to skip them.")
    var python = ProcessInfo.processInfo.environment["UNET_CKPT_BENCH_PYTHON"] ?? "python3"

    @Option(help: "Threads for the forward pass, ours and the peers' (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Input side of the forward pass.")
    var side = 572

    @Option(help: "Input side of the 3-D forward pass (a cube; nnU-Net's 3d_fullres windows are 96 to 160).")
    var side3d = 96

    @Option(help: "sliding-3d: the window's side (a cube) and the volume's, which is larger.")
    var slidingWindow = 64
    @Option(help: "sliding-3d: the volume's side.")
    var slidingVolume = 96

    @Option(parsing: .upToNextOption, help: "Cases to run: \(allCases.joined(separator: ", ")).")
    var cases: [String] = allCases

    @Option(help: "Scratch folder for the inputs (default: a new temporary folder, removed at the end).")
    var scratch: String?

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard side3d >= 32, side3d % 32 == 0, slidingWindow >= 32, slidingWindow % 32 == 0 else {
            throw ValidationError("--side3d and --sliding-window must be multiples of 32")
        }
        guard slidingVolume > slidingWindow else { throw ValidationError("--sliding-volume must exceed the window") }
        if let unknown = cases.first(where: { !Self.allCases.contains($0) }) {
            throw ValidationError("unknown case \(unknown); known: \(Self.allCases.joined(separator: ", "))")
        }
    }

    func run() throws {
        let executables = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let tool = executables.appendingPathComponent("unet-ckpt").path
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw BenchmarkError("\(tool) is missing: build the package first (swift build -c release)")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("peers.py").path
        let peers = python == "none" ? nil : try Peers(python: python, script: script)

        let folder =
            scratch
            ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                "unet-ckpt-bench-\(getpid())"
            ).path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { if scratch == nil { try? FileManager.default.removeItem(atPath: folder) } }

        log("making the inputs in \(folder)")
        let inputs = try Inputs(folder: folder, side: side, peers: peers)
        var report = Report(runs: runs, machine: Machine.describe(threads: threads), peers: peers?.versions ?? [:])
        for name in cases {
            log("case \(name)")
            switch name {
            case "read": report.rows += try read(inputs, peers: peers)
            case "write": report.rows.append(try write(inputs, folder: folder, peers: peers))
            case "convert": report.rows.append(try convert(inputs, tool: tool, folder: folder, peers: peers))
            case "inspect": report.rows += try inspect(inputs, tool: tool)
            case "forward": report.rows += try forward(inputs, tool: tool, folder: folder, peers: peers)
            case "forward-3d": report.rows += try forward3D(tool: tool, folder: folder, peers: peers)
            default: report.rows += try sliding3D(tool: tool, folder: folder, peers: peers)
            }
        }
        print(report.rendered())
    }

    // MARK: The cases

    func read(_ inputs: Inputs, peers: Peers?) throws -> [Report.Row] {
        let ours = try measure(runs: runs) {
            _ = try CheckpointFile(path: inputs.paperPath).read(verifyChecksums: false)
        }
        let mapped = try measure(runs: runs) {
            _ = try CheckpointFile(path: inputs.paperPath).read(verifyChecksums: false, mapped: true)
        }
        let checked = try measure(runs: runs) { _ = try CheckpointFile(path: inputs.paperPath).read() }
        let opening = try measure(runs: runs) { _ = try CheckpointFile(path: inputs.paperPath) }
        let peer = try peers?.runs(["read", inputs.paperPath, "--runs", "\(runs)"])
        let notes = [
            "of which opening and validating the file: \(Report.seconds(opening.median))",
            "into arrays with every CRC-32 checked: \(Report.seconds(checked.median))",
        ]
        return [
            Report.Row(
                name: "read the 31M-value f32 checkpoint into arrays", peer: "h5py full read", ours: ours,
                peerRuns: peer, goal: .timeRatio(0.5), notes: notes),
            Report.Row(
                name: "read it mapped, `read(mapped: true)`", peer: "h5py full read", ours: mapped, peerRuns: peer,
                goal: .timeRatio(0.5), notes: []),
        ]
    }

    func write(_ inputs: Inputs, folder: String, peers: Peers?) throws -> Report.Row {
        let destination = folder + "/written-by-unet-ckpt.h5"
        let ours = try measure(runs: runs) { try inputs.paper.write(to: destination) }
        let peer = try peers?.runs(["write", inputs.paperPath, folder + "/written-by-h5py.h5", "--runs", "\(runs)"])
        return Report.Row(
            name: "write it crash-safely (fsync + rename)", peer: "h5py write + fsync + rename", ours: ours,
            peerRuns: peer, goal: .timeRatio(1.0), notes: [])
    }

    func convert(_ inputs: Inputs, tool: String, folder: String, peers: Peers?) throws -> Report.Row {
        let fileSize = try fileBytes(inputs.milesialPath)
        let ours = try MeasureProcess.measure(
            runs: runs, tool, ["convert", inputs.milesialPath, folder + "/milesial-converted.h5"])
        let peer = try peers.map {
            try MeasureProcess.measure(
                runs: runs, $0.python,
                [$0.script, "convert-once", inputs.milesialPath, folder + "/milesial-by-torch.h5"])
        }
        var notes = [
            "peak RSS ours \(Report.megabytes(ours.medianRSS ?? 0)) = \(String(format: "%.2f", Double(ours.medianRSS ?? 0) / Double(fileSize)))× the \(Report.megabytes(fileSize)) file (goal ≤ 1.5×)"
        ]
        if let rss = peer?.medianRSS { notes.append("peak RSS peer \(Report.megabytes(rss))") }
        if !inputs.milesialSavedByTorch { notes.append("the .pth was written by unet-ckpt (no torch)") }
        return Report.Row(
            name: "convert a full milesial .pth to HDF5 (whole process)", peer: "torch.load + h5py script",
            ours: ours, peerRuns: peer, goal: .timeRatio(0.1, rss: 1.5 * Double(fileSize)), notes: notes)
    }

    /// `inspect` of the 124 MB checkpoint as a whole process (the supervisor's two processes
    /// included) against HDF5's own `h5ls -r` listing every object of the same file (Debian's
    /// hdf5-tools, installed by `make setup`); `--version` alone shows the start-up cost. The two
    /// are timed in alternating rounds, so that a change in the machine's load falls on both.
    func inspect(_ inputs: Inputs, tool: String) throws -> [Report.Row] {
        let h5ls = ["/usr/bin/h5ls", "/usr/local/bin/h5ls"].first { FileManager.default.isExecutableFile(atPath: $0) }
        if h5ls == nil { log("inspect: no h5ls (Debian: hdf5-tools), no ratio") }
        var ours = Runs()
        var peerRuns = Runs()
        let rounds = min(runs, 5)
        for round in 0..<rounds {
            let count = runs / rounds + (round < runs % rounds ? 1 : 0)
            ours.append(try MeasureProcess.measure(runs: count, tool, ["inspect", inputs.paperPath]))
            if let h5ls { peerRuns.append(try MeasureProcess.measure(runs: count, h5ls, ["-r", inputs.paperPath])) }
        }
        let peer = h5ls == nil ? nil : peerRuns
        let version = try MeasureProcess.measure(runs: runs, tool, ["--version"])
        return [
            Report.Row(
                name: "inspect the 124 MB file (whole process)", peer: peer == nil ? "—" : "h5ls -r", ours: ours,
                peerRuns: peer, goal: peer == nil ? .seconds(0.05) : .timeRatio(2.0), notes: []),
            Report.Row(
                name: "`unet-ckpt --version` (start-up alone)", peer: "—", ours: version, peerRuns: nil,
                goal: .seconds(0.02), notes: []),
        ]
    }

    func forward(_ inputs: Inputs, tool: String, folder: String, peers: Peers?) throws -> [Report.Row] {
        let operations = 2 * (inputs.paper.network.multiplyAccumulates(forInputSize: [side, side]) ?? 0)
        return try forwardRows(
            name: "paper U-Net forward, \(side)×\(side) tile, \(threads) threads", checkpoint: inputs.paper,
            checkpointPath: inputs.paperPath, image: inputs.image, imagePath: inputs.imagePath,
            operations: operations, tool: tool, folder: folder + "/paper-outputs", peers: peers
        ) { outputs in
            [
                "forward", inputs.paperPath, "--input", inputs.imagePath, "--outputs", outputs, "--threads",
                "\(threads)", "--runs", "\(runs)",
            ]
        }
    }

    /// The 3-D case: a 3d_fullres-like nnU-Net (6 stages 32…320, instance norm, LeakyReLU, two
    /// 3×3×3 convs per stage) made by dynamic-network-architectures in the peers' process, converted
    /// and exported to ONNX by unet-ckpt itself; PyTorch runs the PlainConvUNet, onnxruntime and
    /// OpenVINO our export.
    func forward3D(tool: String, folder: String, peers: Peers?) throws -> [Report.Row] {
        guard let network = try NNUNetInputs(folder: folder, tool: tool, peers: peers) else {
            log("forward-3d needs the peers' Python (dynamic-network-architectures makes the network): skipped")
            return []
        }
        let (image, imagePath) = try NNUNetInputs.volume(side: side3d, folder: folder, name: "volume")
        let operations =
            2 * (network.checkpoint.network.multiplyAccumulates(forInputSize: [side3d, side3d, side3d]) ?? 0)
        return try forwardRows(
            name: "3-D nnU-Net forward, \(side3d)³ window, \(threads) threads", checkpoint: network.checkpoint,
            checkpointPath: network.path, image: image, imagePath: imagePath, operations: operations, tool: tool,
            folder: folder + "/nnunet-outputs", peers: peers
        ) { outputs in
            [
                "forward-nnunet", network.state, "--onnx", network.onnx, "--input", imagePath, "--outputs", outputs,
                "--threads", "\(threads)", "--runs", "\(runs)",
            ]
        }
    }

    /// The same network over a volume larger than its window: our ``SlidingWindow`` (MONAI's
    /// blending) against MONAI's `sliding_window_inference(mode="gaussian", overlap=0.5)`.
    func sliding3D(tool: String, folder: String, peers: Peers?) throws -> [Report.Row] {
        guard let network = try NNUNetInputs(folder: folder, tool: tool, peers: peers) else {
            log("sliding-3d needs the peers' Python (dynamic-network-architectures makes the network): skipped")
            return []
        }
        let (volume, volumePath) = try NNUNetInputs.volume(side: slidingVolume, folder: folder, name: "large-volume")
        var model = try UNetModel(network.checkpoint)
        model.threads = threads
        let window = [slidingWindow, slidingWindow, slidingWindow]
        let sliding = try SlidingWindow(model: model, window: window, overlap: 0.5, blending: .monai)
        var output = FeatureMap(batch: 0, channels: 0, height: 0, width: 0)
        let ours = try measure(runs: runs) { output = try sliding.predict(volume) }
        let name = "3-D nnU-Net sliding window, \(slidingWindow)³ windows over \(slidingVolume)³, \(threads) threads"
        let count = "\(sliding.windowCount(for: volume.spatial)) windows, overlap 0.5"
        guard let peers else {
            return [Report.Row(name: name, peer: "—", ours: ours, peerRuns: nil, goal: .timeRatio(0.5), notes: [count])]
        }
        let outputs = folder + "/sliding-outputs"
        try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true)
        let result = try peers.call([
            "sliding-nnunet", network.state, "--window", "\(slidingWindow)", "--input", volumePath, "--outputs",
            outputs, "--threads", "\(threads)", "--runs", "\(runs)",
        ])
        guard let entry = result["monai"] as? [String: Any], let seconds = entry["seconds"] as? [Double] else {
            throw BenchmarkError("peers.py sliding-nnunet reported no times")
        }
        let theirs = try NumpyArray(contentsOf: outputs + "/monai.npy")
        let difference = Self.largestRelativeDifference(output.values, theirs.values)
        return [
            Report.Row(
                name: name, peer: "MONAI sliding_window_inference (gaussian)", ours: ours,
                peerRuns: Runs(seconds: seconds),
                goal: .timeRatio(0.5),
                notes: [
                    count, String(format: "largest difference from MONAI: %.1e of the output range", difference),
                ])
        ]
    }

    /// Our forward pass against each peer that ran (goals: ≤ 0.5× PyTorch, ≤ 0.8× onnxruntime and
    /// OpenVINO), and a whole `predict` process against PyTorch's forward alone (≤ 1.0×).
    func forwardRows(
        name: String, checkpoint: Checkpoint, checkpointPath: String, image: FeatureMap, imagePath: String,
        operations: Double, tool: String, folder: String, peers: Peers?, peerArguments: (String) -> [String]
    ) throws -> [Report.Row] {
        var model = try UNetModel(checkpoint)
        model.threads = threads
        var output = FeatureMap(batch: 0, channels: 0, height: 0, width: 0)
        let cpuBefore = processCPUSeconds()
        let ours = try measure(runs: runs) { output = try model.predict(image) }
        // CPU time per pass (every thread): steadier than wall time on a machine others share.
        let cpu = String(format: "%.2f CPU s per pass", (processCPUSeconds() - cpuBefore) / Double(runs + 1))
        func rate(_ runs: Runs?) -> String {
            runs.map { String(format: "%.0f GFLOP/s", operations / $0.median / 1e9) } ?? "—"
        }
        let gflop = String(format: "%.1f GFLOP", operations / 1e9)
        let backend = "ours on \(UNetModel.backendDescription)"
        guard let peers else {
            return [
                Report.Row(
                    name: name, peer: "—", ours: ours, peerRuns: nil, goal: .timeRatio(0.5),
                    notes: ["\(backend), \(rate(ours)) (\(gflop)), \(cpu)"])
            ]
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let result = try peers.call(peerArguments(folder))
        var rows: [Report.Row] = []
        var torchRuns: Runs?
        for (peer, label, goal) in [
            ("torch", "PyTorch CPU", 0.5), ("onnxruntime", "onnxruntime CPU", 0.8),
            ("openvino", "OpenVINO CPU f32", 0.8),
        ] {
            guard let entry = result[peer] as? [String: Any], let seconds = entry["seconds"] as? [Double] else {
                continue
            }
            let theirs = try NumpyArray(contentsOf: folder + "/\(peer).npy")
            let difference = Self.largestRelativeDifference(output.values, theirs.values)
            let peerRuns = Runs(seconds: seconds)
            if peer == "torch" { torchRuns = peerRuns }
            rows.append(
                Report.Row(
                    name: name, peer: label, ours: ours, peerRuns: peerRuns, goal: .timeRatio(goal),
                    notes: [
                        "\(backend), \(rate(ours)), \(cpu); \(label) \(rate(peerRuns)) (\(gflop))",
                        String(format: "largest difference from %@: %.1e of the output range", label, difference),
                    ]))
        }
        // The whole command a user runs: start, read the checkpoint, load BLAS, forward, write.
        let predicted = folder + "/predicted.npy"
        let process = try MeasureProcess.measure(
            runs: runs, tool,
            ["predict", checkpointPath, "--input", imagePath, "--output", predicted, "--threads", "\(threads)"])
        rows.append(
            Report.Row(
                name: "whole `unet-ckpt predict` process, " + name, peer: "PyTorch CPU forward alone", ours: process,
                peerRuns: torchRuns, goal: .timeRatio(1.0), notes: []))
        return rows
    }

    // MARK: Helpers

    /// Our output's largest difference from the peer's as a fraction of the peer's range (the
    /// measure of `ProbeMaker`); infinite when the sizes differ.
    static func largestRelativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return .infinity }
        return ProbeMaker.differenceOfRange(a, b).relativeToRange
    }

    func fileBytes(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
    }

    func log(_ message: String) {
        FileHandle.standardError.write(Data("unet-ckpt-bench: \(message)\n".utf8))
    }
}
