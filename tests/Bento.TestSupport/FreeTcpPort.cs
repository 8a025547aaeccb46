using System.Net;
using System.Net.Sockets;

namespace Bento.TestSupport;

/// <summary>
/// A loopback TCP port that was free a moment ago: the OS picks it (bind to port 0) and the listener is closed at
/// once, so a server started next can take it, and a client connecting to it finds nothing listening (a "closed
/// port" for failure tests). Fixed port numbers would collide between parallel tests and test runs.
/// </summary>
public static class FreeTcpPort
{
    public static int Pick()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try { return ((IPEndPoint)listener.LocalEndpoint).Port; }
        finally { listener.Stop(); }
    }
}
