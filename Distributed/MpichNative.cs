using System.Reflection;
using System.Runtime.InteropServices;

namespace Sparkle.Distributed;

/// <summary>
/// The fifteen or so MPI calls Sparkle needs, bound directly to MPICH's ABI (libmpich.so.12 / libmpi.so.12: MPICH, Intel MPI,
/// MVAPICH, Cray MPICH share it). MPICH's handles are plain ints with fixed values (mpi.h), so the binding needs no
/// header, no shim and no package; buffers go by <c>ref</c> to their first element (pinned for the call, no unsafe).
/// The library is resolved at the first call only (<see cref="Load"/>), so nothing native is touched unless a
/// distributed run asks for it. Open MPI has another ABI (handles are pointers to exported globals) and is refused by name.
/// </summary>
internal static class MpichNative
{
    private const string Lib = "sparkle-mpi";   // a placeholder name, mapped by the resolver below

    public const int CommWorld = 0x44000000;
    public const int MpiFloat = 0x4c00040a;
    public const int MpiDouble = 0x4c00080b;
    public const int MpiInt64 = 0x4c00083a;
    public const int OpMax = 0x58000001;
    public const int OpSum = 0x58000003;
    public const int ErrorsReturn = 0x54000001;
    public const int ThreadMultiple = 3;
    public const int Success = 0;
    public const int RequestNull = 0x2c000000;
    /// <summary>MPI_STATUS_IGNORE in MPICH: (MPI_Status*)1.</summary>
    public static readonly nint StatusIgnore = 1;
    /// <summary>MPI_IN_PLACE in MPICH: (void*)-1.</summary>
    public static readonly nint InPlace = -1;

    /// <summary>Library names tried in order, after SPARKLE_MPI_LIBRARY (a file name or path) when set.</summary>
    public static readonly string[] Candidates = ["libmpich.so.12", "libmpi.so.12", "libmpich.so", "libmpich.12.dylib", "libmpi.12.dylib"];

    private static readonly object Gate = new();
    private static nint _handle;
    private static string? _loadedFrom;

    /// <summary>Finds and loads MPICH; throws <see cref="MpiUnavailableException"/> naming what was tried.</summary>
    public static string Load()
    {
        lock (Gate)
        {
            if (_handle != 0) return _loadedFrom!;
            var tried = new List<string>();
            var env = Environment.GetEnvironmentVariable("SPARKLE_MPI_LIBRARY");
            foreach (var name in string.IsNullOrEmpty(env) ? Candidates : [env])
            {
                tried.Add(name);
                if (!NativeLibrary.TryLoad(name, out var h)) continue;
                if (NativeLibrary.TryGetExport(h, "ompi_mpi_comm_world", out _))
                {
                    NativeLibrary.Free(h);
                    throw new MpiUnavailableException($"{name} is Open MPI, whose ABI (pointer handles) Sparkle does not bind. " +
                        "Install MPICH (Debian/Ubuntu: apt-get install -y mpich) or point SPARKLE_MPI_LIBRARY at an MPICH-ABI libmpi.so.12.");
                }
                if (!NativeLibrary.TryGetExport(h, "MPI_Allreduce", out _)) { NativeLibrary.Free(h); continue; }
                _handle = h;
                _loadedFrom = name;
                NativeLibrary.SetDllImportResolver(typeof(MpichNative).Assembly, Resolve);
                return name;
            }
            throw new MpiUnavailableException($"No MPI library found (tried {string.Join(", ", tried)}). Distributed runs need MPICH: " +
                "apt-get install -y mpich (Debian/Ubuntu), then launch with mpiexec -n N; or set SPARKLE_MPI_LIBRARY to an MPICH-ABI libmpi.");
        }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) => name == Lib ? _handle : 0;

    [DllImport(Lib)] public static extern int MPI_Initialized(out int flag);
    [DllImport(Lib)] public static extern int MPI_Finalized(out int flag);
    [DllImport(Lib)] public static extern int MPI_Init_thread(nint argc, nint argv, int required, out int provided);
    [DllImport(Lib)] public static extern int MPI_Finalize();
    [DllImport(Lib)] public static extern int MPI_Comm_rank(int comm, out int rank);
    [DllImport(Lib)] public static extern int MPI_Comm_size(int comm, out int size);
    [DllImport(Lib)] public static extern int MPI_Comm_set_errhandler(int comm, int handler);
    [DllImport(Lib)] public static extern int MPI_Barrier(int comm);
    [DllImport(Lib)] public static extern int MPI_Abort(int comm, int code);
    [DllImport(Lib)] public static extern int MPI_Bcast(ref byte buffer, int count, int datatype, int root, int comm);
    [DllImport(Lib)] public static extern int MPI_Allreduce(nint sendbuf, ref byte recvbuf, int count, int datatype, int op, int comm);
    /// <summary>Nonblocking: <paramref name="recvbuf"/> is an address (a pinned array), since MPI writes it after the call.</summary>
    [DllImport(Lib)] public static extern int MPI_Iallreduce(nint sendbuf, nint recvbuf, int count, int datatype, int op, int comm, out int request);
    [DllImport(Lib)] public static extern int MPI_Test(ref int request, out int flag, nint status);
    [DllImport(Lib)] public static extern int MPI_Wait(ref int request, nint status);
    [DllImport(Lib)] public static extern int MPI_Error_string(int code, [Out] byte[] text, out int length);
    [DllImport(Lib)] public static extern int MPI_Get_library_version([Out] byte[] text, out int length);
}

/// <summary>MPI could not be loaded or initialised: the message says what to install or set.</summary>
public sealed class MpiUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
